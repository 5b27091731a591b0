"""The environment's alarm topic and its email subscriptions."""

from collections.abc import Sequence

from cdktf_cdktf_provider_aws.sns_topic_subscription import SnsTopicSubscription
from constructs import Construct

from modules.messaging import encrypted_topic


class AlarmTopic(Construct):
    """Every Reef alarm notifies this topic; each address gets an email subscription."""

    def __init__(
        self, scope: Construct, construct_id: str, *, name: str, key_arn: str, emails: Sequence[str]
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = encrypted_topic(self, "topic", name=name, key_arn=key_arn)
        for number, email in enumerate(emails):
            # Email subscriptions stay pending until the recipient confirms them.
            SnsTopicSubscription(
                self,
                f"email-{number}",
                topic_arn=self.topic.arn,
                protocol="email",
                endpoint=email,
            )

    @property
    def arn(self) -> str:
        return self.topic.arn
