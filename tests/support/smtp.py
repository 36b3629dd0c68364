"""A real SMTP server on loopback (aiosmtpd): it records the messages it accepts, or refuses
every message as a mail server's policy would, for the notification tests."""

from __future__ import annotations

import email
import email.policy
import logging
import socket
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Received:
    """A message as the server got it: the envelope and the parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return self.message["Subject"]

    @property
    def body(self) -> str:
        text = self.message.get_body(preferencelist=("plain",)).get_content()
        return text.replace("\r\n", "\n")  # as sent over SMTP, lines end in CRLF


@dataclass
class SmtpServer:
    # None: accept every message; otherwise the SMTP reply given to each message's DATA.
    refusal: str | None = None
    received: list[Received] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    _controller: Controller | None = None

    @property
    def port(self) -> int:
        return self._controller.port

    def start(self) -> SmtpServer:
        owner = self

        class Handler:
            async def handle_DATA(self, server, session, envelope) -> str:
                if owner.refusal:
                    return owner.refusal
                owner.raw.append(envelope.original_content)
                message = email.message_from_bytes(
                    envelope.original_content, policy=email.policy.default
                )
                owner.received.append(
                    Received(envelope.mail_from, list(envelope.rcpt_tos), message)
                )
                return "250 Message accepted for delivery"

        # The test server's own log would repeat every message line by line: not the service's.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        # aiosmtpd's controller checks that its server answers on the port it was given, so
        # it needs a real one (not 0).
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=free_port())
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()


def free_port() -> int:
    """A loopback port nothing listens on (for a server to start on, or to find no server)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
