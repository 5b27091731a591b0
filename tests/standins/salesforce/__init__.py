"""A Salesforce stand-in for tests: an HTTPS server on 127.0.0.1 over an in-memory org."""

from tests.standins.salesforce.org import Org
from tests.standins.salesforce.server import StandIn, write_certificate

__all__ = ["Org", "StandIn", "write_certificate"]
