"""The built-in escalation policy a fresh install starts with (docs/concepts/escalation-policy.md).

It mirrors the demo company (inbox/seed.py) and the procedures in the domain brief: three
support levels under a bot, business hours in Warsaw, tighter targets for urgent cases and
for VIP and gold customers, a ladder that tells the team lead, then a manager at 24 hours and
a director at 48, and customer messages in the demo's six languages. Kept as plain data, in
the shape of the YAML an admin exports, so the test that it validates checks what ships.
"""

from __future__ import annotations

from typing import Any

TEAMS_L1 = ["Support L1"]
TEAMS_L2 = ["Billing", "Technical", "Customer Satisfaction"]
TEAMS_L3 = ["Management"]
BUSINESS_HOURS = "Business hours"
WEEKDAY_HOURS = [["09:00", "17:00"]]
VALUED = ["vip", "gold"]


def _matrix_row(problem: str, description: str, skill: str, specialists: str) -> dict[str, Any]:
    return {
        "problem": problem,
        "description": description,
        "skill": skill,
        "tiers": {1: "Support L1", 2: specialists, 3: "Management"},
    }


def _sla(
    name: str,
    minutes: tuple[int, int, int],
    *,
    priorities: list[str] | None = None,
    customer_tiers: list[str] | None = None,
    calendar: str | None = BUSINESS_HOURS,
) -> dict[str, Any]:
    first, following, resolution = minutes
    return {
        "name": name,
        "priorities": priorities or [],
        "channels": [],
        "customer_tiers": customer_tiers or [],
        "targets": {
            "first_response": first,
            "next_response": following,
            "resolution": resolution,
        },
        "calendar": calendar,
        "warn_at": 0.75,
    }


HOUR = 60

# Customer messages: key -> language -> text. Placeholders: {team}, {agent}, {contact},
# {conversation_id}, {eta}, {link}. Never anything internal: these go to the customer.
TEMPLATES: dict[str, dict[str, str]] = {
    "escalated": {
        "en": (
            "Hi {contact}, a specialist from our {team} team is now on your case. "
            "We will get back to you by {eta}."
        ),
        "pl": (
            "Dzień dobry, {contact}! Twoją sprawą zajmuje się teraz specjalista z zespołu "
            "{team}. Odezwiemy się do {eta}."
        ),
        "bg": (
            "Здравейте, {contact}! Специалист от екипа „{team}“ вече се занимава с вашия "
            "случай. Ще се свържем с вас до {eta}."
        ),
        "ru": (
            "Здравствуйте, {contact}! Вашим обращением теперь занимается специалист из "
            "команды «{team}». Мы свяжемся с вами до {eta}."
        ),
        "ar": (
            "مرحبًا {contact}، يتولى الآن أحد المتخصصين من فريق {team} متابعة طلبك. "
            "سنعود إليك قبل {eta}."
        ),
        "nb": (
            "Hei {contact}! En spesialist fra teamet {team} jobber nå med saken din. "
            "Vi tar kontakt innen {eta}."
        ),
    },
    "accepted": {
        "en": "{agent} from our {team} team has picked up your case and is working on it now.",
        "pl": "Twoją sprawą zajmuje się teraz {agent} z zespołu {team}.",
        "bg": "{agent} от екипа „{team}“ пое вашия случай и вече работи по него.",
        "ru": "Ваше обращение взято в работу: им занимается {agent} из команды «{team}».",
        "ar": "تولّى {agent} من فريق {team} طلبك ويعمل عليه الآن.",
        "nb": "{agent} fra teamet {team} har tatt saken din og jobber med den nå.",
    },
    "periodic": {
        "en": (
            "A quick update: our {team} team is still working on your case. We expect to get "
            "back to you by {eta}. Thank you for your patience."
        ),
        "pl": (
            "Krótka informacja: zespół {team} nadal pracuje nad Twoją sprawą. Odezwiemy się "
            "do {eta}. Dziękujemy za cierpliwość."
        ),
        "bg": (
            "Кратка информация: екипът „{team}“ все още работи по вашия случай. Ще се свържем "
            "с вас до {eta}. Благодарим ви за търпението!"
        ),
        "ru": (
            "Коротко о статусе: команда «{team}» всё ещё работает над вашим обращением. "
            "Мы свяжемся с вами до {eta}. Спасибо за терпение!"
        ),
        "ar": ("تحديث سريع: لا يزال فريق {team} يعمل على طلبك. سنعود إليك قبل {eta}. شكرًا لصبرك."),
        "nb": (
            "En kort oppdatering: teamet {team} jobber fortsatt med saken din. Vi tar kontakt "
            "innen {eta}. Takk for tålmodigheten!"
        ),
    },
    "resolved": {
        "en": (
            "Your case #{conversation_id} is resolved. If anything is still not right, "
            "just reply to this message."
        ),
        "pl": (
            "Twoja sprawa nr {conversation_id} została rozwiązana. Jeśli coś nadal jest "
            "nie tak, po prostu odpowiedz na tę wiadomość."
        ),
        "bg": (
            "Вашият случай № {conversation_id} е решен. Ако нещо все още не е наред, "
            "просто отговорете на това съобщение."
        ),
        "ru": (
            "Ваше обращение № {conversation_id} решено. Если что-то всё ещё не так, "
            "просто ответьте на это сообщение."
        ),
        "ar": (
            "تم حل طلبك رقم {conversation_id}. إذا كان هناك ما لا يزال غير صحيح، "
            "فما عليك سوى الرد على هذه الرسالة."
        ),
        "nb": (
            "Sak nr. {conversation_id} er løst. Hvis noe fortsatt ikke stemmer, er det bare "
            "å svare på denne meldingen."
        ),
    },
    "csat": {
        "en": "How did we do? Please rate our help from 1 to 5: {link}",
        "pl": "Jak nam poszło? Oceń naszą pomoc w skali od 1 do 5: {link}",
        "bg": "Как се справихме? Моля, оценете помощта ни от 1 до 5: {link}",
        "ru": "Как мы справились? Пожалуйста, оцените нашу помощь от 1 до 5: {link}",
        "ar": "ما رأيك في خدمتنا؟ يُرجى تقييم مساعدتنا من 1 إلى 5: {link}",
        "nb": "Hvordan gjorde vi det? Gi hjelpen vår en karakter fra 1 til 5: {link}",
    },
    # The escalation letter: an apology, what was done (the agent fills it in before
    # sending), the expected timeline and a named contact.
    "letter": {
        "en": (
            "Dear {contact},\n\n"
            "We are sorry for the trouble this has caused you, and for how long it has taken. "
            "Your case #{conversation_id} now has the full attention of our {team} team.\n\n"
            "What we have done so far: …\n\n"
            "We expect to have it resolved by {eta}. Until then {agent} is your contact and "
            "will keep you informed; you can reply to this message at any time.\n\n"
            "Kind regards,\n{agent}"
        ),
        "pl": (
            "Dzień dobry, {contact},\n\n"
            "bardzo przepraszamy za kłopot i za to, że trwa to tak długo. Twoją sprawą "
            "nr {conversation_id} zajmuje się teraz zespół {team} i ma ona u nas najwyższy "
            "priorytet.\n\n"
            "Co zrobiliśmy do tej pory: …\n\n"
            "Spodziewamy się rozwiązać sprawę do {eta}. Do tego czasu Twoją osobą kontaktową "
            "jest {agent}. Będziemy informować Cię na bieżąco, a na tę wiadomość możesz "
            "odpowiedzieć w każdej chwili.\n\n"
            "Z pozdrowieniami\n{agent}"
        ),
        "bg": (
            "Здравейте, {contact},\n\n"
            "Молим да ни извините за неудобството и за забавянето. Вашият случай "
            "№ {conversation_id} вече е с пълното внимание на екипа „{team}“.\n\n"
            "Какво направихме досега: …\n\n"
            "Очакваме да решим въпроса до {eta}. Дотогава ваше лице за контакт е {agent}. "
            "Ще ви държим в течение, а вие можете да отговорите на това съобщение по всяко "
            "време.\n\n"
            "С уважение,\n{agent}"
        ),
        "ru": (
            "Здравствуйте, {contact}!\n\n"
            "Приносим извинения за доставленные неудобства и за то, что решение заняло так "
            "много времени. Вашим обращением № {conversation_id} теперь занимается команда "
            "«{team}», и мы уделяем ему самое пристальное внимание.\n\n"
            "Что мы уже сделали: …\n\n"
            "Мы рассчитываем решить вопрос до {eta}. До этого времени ваше контактное лицо — "
            "{agent}. Мы будем держать вас в курсе, а вы можете ответить на это сообщение "
            "в любой момент.\n\n"
            "С уважением,\n{agent}"
        ),
        "ar": (
            "عزيزنا {contact}،\n\n"
            "نعتذر عن الإزعاج الذي سببته لك هذه المشكلة وعن التأخير في حلها. "
            "يحظى طلبك رقم {conversation_id} الآن بكامل اهتمام فريق {team}.\n\n"
            "ما قمنا به حتى الآن: …\n\n"
            "نتوقع حل المشكلة قبل {eta}. وحتى ذلك الحين سيكون {agent} جهة الاتصال الخاصة بك "
            "وسيبقيك على اطلاع، ويمكنك الرد على هذه الرسالة في أي وقت.\n\n"
            "مع خالص التحية،\n{agent}"
        ),
        "nb": (
            "Hei {contact},\n\n"
            "Vi beklager bryet dette har skapt, og at det har tatt så lang tid. "
            "Sak nr. {conversation_id} har nå full oppmerksomhet fra teamet {team}.\n\n"
            "Dette har vi gjort så langt: …\n\n"
            "Vi regner med å ha saken løst innen {eta}. Fram til da er {agent} kontaktpersonen "
            "din og holder deg oppdatert. Du kan svare på denne meldingen når som helst.\n\n"
            "Vennlig hilsen\n{agent}"
        ),
    },
}

CANNED_ANSWERS: list[dict[str, Any]] = [
    {
        "keywords": ["password", "reset", "log in", "login", "hasło", "haslo", "zalogować"],
        "answer": {
            "en": (
                "To reset your password, open the sign-in page, choose “Forgot password?” and "
                "follow the link we email you. The link works for one hour."
            ),
            "pl": (
                "Aby zresetować hasło, otwórz stronę logowania, wybierz „Nie pamiętasz hasła?” "
                "i kliknij link, który wyślemy e-mailem. Link jest ważny przez godzinę."
            ),
        },
    },
    {
        "keywords": ["opening hours", "business hours", "when are you open", "godziny", "czynne"],
        "answer": {
            "en": (
                "We are here Monday to Friday, 9:00–17:00 Polish time, except on public "
                "holidays in Poland."
            ),
            "pl": (
                "Jesteśmy dostępni od poniedziałku do piątku w godz. 9:00–17:00, "
                "z wyjątkiem świąt państwowych."
            ),
        },
    },
    {
        "keywords": [
            "shipping",
            "delivery",
            "parcel",
            "tracking",
            "przesyłka",
            "dostawa",
            "paczka",
        ],
        "answer": {
            "en": (
                "You can follow your parcel with the tracking link in your order confirmation "
                "email. Orders usually arrive within 2–4 working days."
            ),
            "pl": (
                "Przesyłkę możesz śledzić przez link w e-mailu z potwierdzeniem zamówienia. "
                "Zamówienia docierają zwykle w ciągu 2–4 dni roboczych."
            ),
        },
    },
]

DEFAULT_POLICY: dict[str, Any] = {
    "version": 1,
    "tiers": [
        {"level": 0, "name": "Bot and self-service", "teams": []},
        {"level": 1, "name": "First line", "teams": TEAMS_L1},
        {"level": 2, "name": "Specialists", "teams": TEAMS_L2},
        {"level": 3, "name": "Management", "teams": TEAMS_L3},
    ],
    "matrix": [
        _matrix_row("billing", "Invoices, VAT, double charges", "billing", "Billing"),
        _matrix_row("refund", "Refunds and chargebacks", "refunds", "Billing"),
        _matrix_row("technical", "Bugs, API errors, integrations", "technical", "Technical"),
        _matrix_row("outage", "The service is down or unusable", "technical", "Technical"),
        _matrix_row(
            "complaint", "An unhappy customer, compensation", "retention", "Customer Satisfaction"
        ),
    ],
    "calendars": [
        {
            "name": BUSINESS_HOURS,
            "timezone": "Europe/Warsaw",
            "hours": {day: WEEKDAY_HOURS for day in ("mon", "tue", "wed", "thu", "fri")},
            "holidays_country": "PL",
            "holidays": [],
        }
    ],
    # The first policy that matches a conversation applies: the most specific come first.
    # Urgent cases count wall-clock time; the rest count business hours.
    "sla": [
        _sla(
            "Urgent, VIP or gold",
            (15, 30, 4 * HOUR),
            priorities=["urgent"],
            customer_tiers=VALUED,
            calendar=None,
        ),
        _sla("Urgent", (30, HOUR, 8 * HOUR), priorities=["urgent"], calendar=None),
        _sla(
            "High, VIP or gold", (30, HOUR, 12 * HOUR), priorities=["high"], customer_tiers=VALUED
        ),
        _sla("High", (HOUR, 2 * HOUR, 24 * HOUR), priorities=["high"]),
        _sla("VIP or gold", (2 * HOUR, 4 * HOUR, 48 * HOUR), customer_tiers=VALUED),
        _sla("Default", (4 * HOUR, 8 * HOUR, 72 * HOUR)),
    ],
    "ladder": [
        {
            "name": "SLA warning",
            "at": "warning",
            "notify": ["team_lead"],
            "channels": ["slack"],
            "escalate_tiers": 0,
        },
        {
            "name": "SLA breach",
            "at": "breach",
            "notify": ["team_lead"],
            "channels": ["slack"],
            "escalate_tiers": 0,
        },
        {
            "name": "Open 24 hours",
            "after_hours": 24,
            "notify": ["manager"],
            "channels": ["slack", "sms", "email"],
            "escalate_tiers": 1,
        },
        {
            "name": "Open 48 hours",
            "after_hours": 48,
            "notify": ["director"],
            "channels": ["slack", "sms", "email"],
            "escalate_tiers": 1,
        },
    ],
    "rules": {
        "reopen_limit": 3,
        "reopen_team": "Customer Satisfaction",
        "transfer_limit": 3,
        "max_escalation_age_days": 30,
        "csat_review_below": 3,
        "acknowledge_minutes": 30,
    },
    "routing": {
        "Support L1": "round_robin",
        "Billing": "least_busy",
        "Technical": "skills",
        "Customer Satisfaction": "least_idle",
        "Management": "direct",
    },
    "people": [
        {
            "name": "Kasia Nowak",
            "role": "team_lead",
            "email": "kasia.nowak@example.com",
            "phone": "+48600100200",
            "slack": "U0TEAMLEAD",
        },
        {
            "name": "Maria Lopez",
            "role": "manager",
            "email": "maria.lopez@example.com",
            "phone": "+48600100300",
            "slack": "U0MANAGER",
        },
        {
            "name": "Jan Kowalczyk",
            "role": "director",
            "email": "jan.kowalczyk@example.com",
            "phone": "+48600100400",
            "slack": "U0DIRECTOR",
        },
        {
            "name": "Ewa Wiśniewska",
            "role": "escalation_manager",
            "email": "ewa.wisniewska@example.com",
            "phone": "+48600100500",
            "slack": "U0ESCMGR",
        },
    ],
    "compensation_limits": {"agent": 50.0, "manager": 500.0, "admin": 5000.0},
    "customer_updates": {
        "cadence_minutes": 240,
        "business_hours_only": True,
        "calendar": BUSINESS_HOURS,
        "min_gap_minutes": 15,
        "templates": TEMPLATES,
    },
    "notifiers": {
        "slack": {
            "channel": "#escalations",
            "bot_token": None,
            "signing_secret": None,
            "api_base": "https://slack.com/api/",
        },
        "email_from": "handoff@example.com",
        "smtp_host": None,
        "smtp_port": 25,
        "twilio_account_sid": None,
        "twilio_auth_token": None,
        "twilio_from": None,
        "twilio_api_base": "https://api.twilio.com",
    },
    # Off until an admin turns it on: a fresh install should not answer customers by itself.
    "bot": {
        "enabled": False,
        "answers": CANNED_ANSWERS,
        "handoff_phrases": ["human", "agent", "person", "człowiek", "konsultant"],
        "misses_before_handoff": 2,
        "handoff_team": "Support L1",
    },
}
