"""The names of an environment's shared resources, as the core stack creates them.

Commands that read a deployed environment (status, trace, the local runtime) find its
resources by these names, without synthesizing anything.
"""

from generator.environments import Environment


def resource_prefix(environment: Environment) -> str:
    """What every shared resource's name of the environment starts with."""
    return f"reef-{environment.name}"


def staging_bucket_name(environment: Environment) -> str:
    # bucket names are global across accounts, hence the account id
    return f"{resource_prefix(environment)}-staging-{environment.account}"


def bookkeeping_table_name(environment: Environment) -> str:
    return f"{resource_prefix(environment)}-bookkeeping"
