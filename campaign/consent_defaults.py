"""Version 1 of the consent wording, per topic and language.

Seeded by migration 0003 and by ``consent_texts_ensure`` (a fresh database, tests). Later
versions are written by staff in the back office; this file never changes a version in use.
"""

from __future__ import annotations

DEFAULT_CONSENT_TEXTS: dict[tuple[str, str], str] = {
    ("stories", "nl"): (
        "Ja, stuur mij ongeveer één keer per maand een waargebeurd verhaal over een kind op de "
        "vlucht, en over wat Save the Children doet om kinderen onderweg te beschermen."
    ),
    ("stories", "en"): (
        "Yes, send me a true story about a child on the move about once a month, and about "
        "what Save the Children does to protect children along the way."
    ),
    ("appeals", "nl"): (
        "Ja, e-mail mij wanneer kinderen op de vlucht dringend hulp nodig hebben die ik met een "
        "gift of actie kan geven (hooguit twee keer per maand)."
    ),
    ("appeals", "en"): (
        "Yes, email me when children on the move urgently need help that I can give with a "
        "donation or an action (at most twice a month)."
    ),
    ("donor_news", "nl"): (
        "Ja, vertel mij per e-mail wat giften aan Save the Survivors voor kinderen betekenen, "
        "met ongeveer eens per kwartaal een update."
    ),
    ("donor_news", "en"): (
        "Yes, tell me by email what donations to Save the Survivors mean for children, with an "
        "update about once a quarter."
    ),
}
