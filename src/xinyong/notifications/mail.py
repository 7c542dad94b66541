"""SMTP sending (standard library): one connection for a batch of messages."""

from __future__ import annotations

import smtplib
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from xinyong.config import Settings


def build_message(settings: Settings, to_addr: str, subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = Address(settings.site_name, addr_spec=settings.smtp_from)
    msg["To"] = to_addr
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=settings.smtp_from.rsplit("@", 1)[-1])
    msg.set_content(body, charset="utf-8")
    return msg


def send_messages(settings: Settings, messages: list[tuple[str, str, str]]) -> list[str | None]:
    """Send each (to, subject, body); returns per message None (sent) or an English error."""
    if not messages:
        return []
    try:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout)
    except OSError as exc:
        return [f"connect failed: {type(exc).__name__}: {exc}"] * len(messages)
    results: list[str | None] = []
    try:
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password or "")
        for to_addr, subject, body in messages:
            try:
                smtp.send_message(build_message(settings, to_addr, subject, body))
                results.append(None)
            except (smtplib.SMTPException, OSError) as exc:
                results.append(f"{type(exc).__name__}: {exc}")
    except (smtplib.SMTPException, OSError) as exc:
        results.extend([f"{type(exc).__name__}: {exc}"] * (len(messages) - len(results)))
    finally:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()
    return results
