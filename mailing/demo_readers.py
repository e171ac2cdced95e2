"""The demo mailing's readers at work, so its results page has something true to show.

Once the worker has sent the demo mailing (mailing/demo.py) into the demo mailbox, some of its
readers open the email there and act as people do, over HTTP against the running site: they
click the story link or the donate button (the click redirect counts a browser's click), give
through the donate form and the local Stripe's checkout page (the gift is attributed to the
email by its source token), press the one-click unsubscribe, and one address bounces (a
delivery status notification through the inbound DSN service). Run after the site, the worker
and devstripe are up (the run command's `seed_demo_readers`); once done, it does nothing, and a
run that was killed is finished by the next without repeating a reader's gift or click.
"""

from __future__ import annotations

import email
import email.policy
import http.cookiejar
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

from mailing.demo import DEMO_MAILING, reader_email
from mailing.dsn import dsn_receive
from mailing.models import Bounce, Click, Delivery, GiftAttribution, Mailing

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0"
_HREF = re.compile(r'href="([^"]+)"')
_HIDDEN = r'name="{name}" value="([^"]*)"'


def _opener() -> urllib.request.OpenerDirector:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.addheaders = [("User-Agent", BROWSER), ("Accept", "text/html")]
    return opener


def _html(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    return part.get_content() if part is not None else ""


def _tracked_links(message: EmailMessage) -> tuple[str, str]:
    """(the story link, the donate button) as the HTML part has them, through /r/."""
    links = [link.replace("&amp;", "&") for link in _HREF.findall(_html(message)) if "/r/" in link]
    donate = next(link for link in links if "source=" in link)
    story = next(link for link in links if "source=" not in link)
    return story, donate


def _give(donate_link: str, preset_cents: int, method: str) -> str:
    """Click the donate button, pick an amount, press Pay on the checkout page."""
    opener = _opener()
    form_page = opener.open(donate_link, timeout=30)
    page, donate_url = form_page.read().decode(), form_page.url
    fields = {}
    for name in ("csrfmiddlewaretoken", "form_token", "source"):
        found = re.search(_HIDDEN.format(name=name), page)
        fields[name] = found.group(1) if found else ""
    data = {**fields, "frequency": "one_off", "amount": str(preset_cents), "method": method}
    checkout = opener.open(
        urllib.request.Request(  # noqa: S310 - our own site's http(s) URL
            donate_url.split("?")[0],
            data=urllib.parse.urlencode({**data, "website": ""}).encode(),
            headers={"Referer": donate_url},
        ),
        timeout=30,
    )
    if "/pay/" not in checkout.url:
        raise RuntimeError(f"the donate form did not lead to the checkout: {checkout.url}")
    pay = urllib.parse.urlencode({"action": "pay", "method": method}).encode()
    paid = urllib.request.Request(checkout.url, data=pay)  # noqa: S310 - the local checkout
    return str(opener.open(paid, timeout=30).url)


def _unsubscribe(message: EmailMessage) -> None:
    """What a mail program's unsubscribe button does (RFC 8058)."""
    header = str(message["List-Unsubscribe"])
    url = next(u for u in re.findall(r"<([^>]+)>", header) if u.startswith("http"))
    body = urllib.parse.urlencode({"List-Unsubscribe": "One-Click"}).encode()
    urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=30).close()  # noqa: S310


def _bounce(message: EmailMessage) -> None:
    """The reader's mail server reports the address gone (RFC 3464), returning our headers."""
    headers = "".join(f"{name}: {value}\r\n" for name, value in message.items())
    recipient = str(message["To"])
    dsn = (
        "From: MAILER-DAEMON@example.org\r\nTo: bounces@example.org\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nThe mailbox does not exist.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n"
        f"\r\nFinal-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 No such user\r\n"
        f"\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\n{headers}\r\n--b--\r\n"
    )
    dsn_receive(dsn.encode())


def _received(mailbox: Path, mailing: Mailing, timeout: float) -> dict[str, EmailMessage]:
    """The demo mailing's emails in the mailbox by recipient, once every sent one is there."""
    subjects = {mailing.subject_nl, mailing.subject_en}
    deadline = time.monotonic() + timeout
    while True:
        mailing.refresh_from_db()
        sent = Delivery.objects.filter(message__mailing=mailing, state="sent").count()
        found: dict[str, EmailMessage] = {}
        for path in sorted(mailbox.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if str(message["Subject"]) in subjects and isinstance(message, EmailMessage):
                found[str(message["To"]).lower()] = message
        if mailing.state == Mailing.State.FINISHED and sent and len(found) >= sent:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"the demo mailing was not sent in {timeout:.0f} s")
        time.sleep(1)


def already_read() -> bool:
    """The last reader's bounce is in: every reader acted (a run broken off earlier acts again;
    a click is counted once per link anyway)."""
    return Bounce.objects.filter(delivery__message__mailing__name=DEMO_MAILING).exists()


def demo_readers_act(mailbox: Path, timeout: float = 180.0) -> int:
    """Readers click, give, unsubscribe and bounce; returns how many emails were acted on."""
    mailing = Mailing.objects.filter(name=DEMO_MAILING).first()
    if mailing is None or already_read():
        return 0
    received = _received(mailbox, mailing, timeout)

    def email_of(first: str, last: str) -> EmailMessage:
        return received[reader_email(first, last)]

    acts: list[tuple[tuple[str, str], str, Callable[[EmailMessage], object]]] = [
        (("Sophie", "Jansen"), GIVE, lambda m: _give(_tracked_links(m)[1], 2500, "ideal")),
        (("Noor", "El Amrani"), GIVE, lambda m: _give(_tracked_links(m)[1], 5000, "card")),
        (("Thijs", "de Wit"), CLICK, lambda m: _opener().open(_tracked_links(m)[0], timeout=30)),
        (("Olivia", "Brown"), CLICK, lambda m: _opener().open(_tracked_links(m)[0], timeout=30)),
        (("Ruben", "Kok"), CLICK, lambda m: _opener().open(_tracked_links(m)[1], timeout=30)),
        (("Milan", "Verbeek"), OTHER, _unsubscribe),
        (("Jesse", "van Leeuwen"), OTHER, _unsubscribe),
        (("Yara", "Hoekstra"), OTHER, _bounce),
    ]
    for (first, last), kind, act in acts:
        if not _acted(mailing, reader_email(first, last), kind):
            act(email_of(first, last))
    return len(acts)


GIVE, CLICK, OTHER = "give", "click", "other"


def _acted(mailing: Mailing, address: str, kind: str) -> bool:
    """Whether a run that was killed already did this reader's act, so the next one finishes
    the others without a second gift. A gift counts once attributed to the email (booked from
    its webhook); a click once recorded. An unsubscribe is done again (it changes nothing the
    second time); the bounce is the last act, and ends the seed (already_read)."""
    delivery = Delivery.objects.filter(message__mailing=mailing, supporter__email=address)
    if kind == GIVE:
        return GiftAttribution.objects.filter(delivery__in=delivery).exists()
    if kind == CLICK:
        return Click.objects.filter(delivery__in=delivery).exists()
    return False
