#!/usr/bin/env python3
"""Generate chatprep's small *raw* customer-support sample dataset.

Run from the repository root:

    .venv/bin/python data/sample/generate.py

Deterministic: one ``random.Random(20261121)`` drives everything; only the stdlib and
polars are used. All text below was written for this file (fictional company
"Northwind Mobile": mobile plans, home broadband and the Northwind online store).
All personal data is fake (example.com/.org e-mails, 555-01xx / Ofcom / BNetzA drama
phone numbers, public test card numbers and test IBANs, documentation IP ranges).

Outputs (written next to this file):

* ``support_chats.csv``     -- "messages" layout, one row per message:
                               conversation_id,turn,speaker,text,channel
* ``faq_pairs.parquet``     -- "pairs" layout: id, system, question, context, answer, product
* ``escalations.parquet``   -- "conversations" layout: ticket_id,
                               messages: List(Struct{role, content}), priority
* ``defects.json``          -- machine-readable manifest of every planted defect
* ``README.md``             -- human-readable description (generated from the manifest)

Reading the CSV with the ``csv`` module needs ``csv.field_size_limit(sys.maxsize)``: the pasted
router log in conv-0137 is one ~400 kB cell (the default limit is 131,072).

PLANTED DEFECTS (the manifest in defects.json is authoritative and is verified
against the data at the end of every run; ids are fixed by the constants below)
===========================================================================

support_chats.csv (conversations conv-0001 .. conv-0220, plus stray/malformed rows)
  exact duplicates (dup <- source, identical messages/channel, new id):
      0035<-0012 0052<-0008 0071<-0019 0083<-0044 0109<-0061 0124<-0097
      0138<-0015 0151<-0126 0169<-0140 0188<-0155 0203<-0172 0216<-0190
  near duplicates (one or two words / punctuation / a name differ from the source):
      0039<-0003 0056<-0027 0074<-0063 0099<-0081 0115<-0105
      0133<-0120 0158<-0147 0179<-0166 0194<-0182 0212<-0201
  German:   0023 0041 0058 0077 0102 0131 0164 0197
  Spanish:  0030 0049 0066 0089 0118 0143 0176 0209
  customer German / agent English: 0094 0185
  over the token limit: 0137 (customer pastes a ~400,000 character router log)
  empty / whitespace-only text: 0006 0047 0091 0128 0161 0206 (one row each)
  consecutive same-speaker runs (20): 0004 0014 0021(x2) 0033 0046(triple) 0055
      0065 0079 0093 0104 0116(x2) 0129 0149 0162 0174 0187 0202 0214
      (0112, the no-agent chat, also has two customer rows in a row)
  unknown speaker label "supervisor": 0068 0153
  trailing customer turn after the last agent answer: 0011 0037 0060 0086 0107
      0122 0145 0171 0193 0218
  no agent message at all: 0112 (customer only), 0199 (system + customer)
  rows stored out of order (order only recoverable from `turn`): 0018 0072 0113
      0159 0211; 0072 and 0159 additionally have rows moved far away in the file
  fake PII:  e-mail 0009 0054 0121 0178 | phone 0016 0087 0146 0131(de)
             card (Luhn-valid test numbers) 0025 0134 | IBAN 0096(GB82) 0164(DE89)
             IP address 0050 (and 0137's log) | API key sk-test-... 0117
             AWS access key AKIA... 0183
  unsafe lines: 0062 (violence vs staff) 0100 (self-harm) 0156 (threat vs office)
      0195 (abusive threat to agent)
  quality: refusal boilerplate 0028 0110 0168 | agent echoes customer 0043 0141 |
      one-word agent reply 0076 0181 | heavy repetition 0125
  odd text: "<|endoftext|>" 0057 | \\x07 bell 0085 | CRLF inside text 0119 |
      mojibake "CafÃ© rÃ©servation" 0148
  row with empty conversation_id: written after conv-0100's rows (turn 3, customer)
  malformed trailing lines (written raw after all csv.writer output):
      conv-0221 too many fields | conv-0222 too few fields | conv-0223 turn "abc"

faq_pairs.parquet (faq-0001 .. faq-0118 + 2 repeated ids = 120 rows)
  empty answer: faq-0037 ("") faq-0089 (whitespace) | null question: faq-0064
  German pair: faq-0052
  duplicates: faq-0116/0117/0118 are content copies of faq-0011/0045/0098
      (new id); faq-0023 and faq-0071 appear twice as identical rows (same id)

escalations.parquet (ESC-26-0001 .. ESC-26-0040)
  ends with a user turn: ESC-26-0017 | system + user only, no assistant: ESC-26-0033
"""

from __future__ import annotations

import copy
import csv
import io
import json
import random
import re
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

SEED = 20261121
OUT = Path(__file__).resolve().parent
N_CONV = 220


def cid(n: int) -> str:
    return f"conv-{n:04d}"


# ---------------------------------------------------------------------------
# Defect plan (conversation numbers). Everything else is a clean English chat.
# ---------------------------------------------------------------------------
GERMAN = [23, 41, 58, 77, 102, 131, 164, 197]
SPANISH = [30, 49, 66, 89, 118, 143, 176, 209]
MIXED_DE_EN = [94, 185]
EXACT_DUP = {35: 12, 52: 8, 71: 19, 83: 44, 109: 61, 124: 97, 138: 15, 151: 126,
             169: 140, 188: 155, 203: 172, 216: 190}
NEAR_DUP = {39: (3, "name"), 56: (27, "thanks"), 74: (63, "punct"), 99: (81, "digit"),
            115: (105, "greeting"), 133: (120, "agent_name"), 158: (147, "word"),
            179: (166, "punct"), 194: (182, "name"), 212: (201, "word")}
HUGE = 137
EMPTY = {6: "", 47: "   ", 91: "", 128: "\n", 161: " \t ", 206: ""}
CONSEC = {4: ["hello_first"], 14: ["addendum"], 21: ["addendum", "hold"], 33: ["hold"],
          46: ["addendum", "nudge"], 55: ["hello_first"], 65: ["hold"], 79: ["nudge"],
          93: ["addendum"], 104: ["hold"], 116: ["hello_first", "hold"], 129: ["addendum"],
          149: ["hold"], 162: ["nudge"], 174: ["hello_first"], 187: ["hold"],
          202: ["addendum"], 214: ["hold"]}
SUPERVISOR = [68, 153]
NO_AGENT = [112, 199]
TRAILING = [11, 37, 60, 86, 107, 122, 145, 171, 193, 218]
SHUFFLED = [18, 72, 113, 159, 211]
SHUFFLED_SCATTER = [72, 159]
PII_EMAIL = {9: "maria.keller@example.com", 54: "j.okafor@example.org",
             121: "dan.whitfield84@example.com", 178: "priya.nair.home@example.org"}
PII_PHONE = {16: "+1 202-555-0147", 87: "+44 20 7946 0321", 146: "+1 (312) 555-0188"}
PII_PHONE_DE = {131: "+49 30 23125 471"}
PII_CARD = {25: "4111 1111 1111 1111", 134: "5555555555554444"}
PII_IBAN = {96: "GB82 WEST 1234 5698 7654 32"}
PII_IBAN_DE = {164: "DE89 3704 0044 0532 0130 00"}
PII_IP = {50: "203.0.113.57"}
API_KEY = 117
AWS_KEY = 183
UNSAFE = {62: "violence_against_staff", 100: "self_harm", 156: "threat_against_office",
          195: "abusive_threat_to_agent"}
REFUSAL = [28, 110, 168]
ECHO = [43, 141]
ONE_WORD = {76: "ok", 181: "ok"}
REPETITION = 125
SPECIAL_TOKEN = 57
BELL = 85
CRLF = 119
MOJIBAKE = 148
EMPTY_ID_AFTER = 100
MALFORMED_IDS = ["conv-0221", "conv-0222", "conv-0223"]

# faq_pairs.parquet plan
FAQ_BASE = 115
FAQ_EMPTY_ANSWER = {37: "", 89: "   "}
FAQ_NULL_QUESTION = 64
FAQ_GERMAN = 52
FAQ_CONTENT_DUP = {116: 11, 117: 45, 118: 98}
FAQ_ROW_DUP = [23, 71]

# escalations.parquet plan
N_ESC = 40
ESC_ENDS_USER = 17
ESC_SYSTEM_USER_ONLY = 33


# ---------------------------------------------------------------------------
# Slot pools
# ---------------------------------------------------------------------------
FIRST = ["Sarah", "James", "Aisha", "Tom", "Mei", "Carlos", "Hannah", "Oluwaseun", "Priya",
         "Daniel", "Chloe", "Marcus", "Fatima", "Ryan", "Sofia", "Ethan", "Grace", "Liam",
         "Nadia", "Owen", "Zara", "Patrick", "Yuki", "Kevin", "Imogen", "Tariq", "Emily",
         "Jonah", "Leah", "Andre", "Rosa", "Martin", "Ayesha", "Ben", "Claire", "Dmitri",
         "Elena", "Frank", "Gemma", "Hassan", "Isla", "Jack", "Kira", "Luis", "Maya",
         "Noah", "Olivia", "Pete", "Rachel", "Sam", "Tanya", "Victor", "Wendy", "Xavier",
         "Yasmin", "Zoe", "Bilal", "Caroline", "Diego", "Erin"]
LAST = ["Morgan", "Patel", "Nguyen", "Okafor", "Schmidt", "Garcia", "Brown", "Kowalski",
        "Hughes", "Rahman", "Silva", "Lindqvist", "O'Brien", "Takahashi", "Mensah", "Rossi",
        "Fischer", "Dubois", "Clarke", "Haddad", "Novak", "Reyes", "Walsh", "Ibrahim",
        "Larsen", "Chen", "Murphy", "Baptiste", "Kaur", "Fletcher", "Moreau", "Evans"]
AGENTS = ["Priyanka", "Tom", "Lucy", "Marco", "Jade", "Kwame", "Ellie", "Sanjay", "Beth",
          "Connor", "Amara", "Felix", "Nina", "Raj", "Holly", "Dominic", "Leila", "Sean",
          "Tasha", "Omar", "Megan", "Lars", "Ruth", "Adebayo"]
SUPERVISORS = ["Gloria", "Henrik", "Anita", "Desmond"]
PLANS = [("Flex 5", 15, 5), ("Flex 15", 22, 15), ("Flex 30", 30, 30), ("Flex 60", 38, 60),
         ("Unlimited", 45, 0), ("Unlimited Plus", 55, 0)]
DEVICES = ["Galaxy S24", "iPhone 15", "Pixel 8a", "Moto g84", "iPhone 14", "Galaxy A55",
           "Pixel 9", "Nothing Phone (2a)", "Redmi Note 13 Pro", "iPhone 16 Pro",
           "Galaxy Z Flip6", "Fairphone 5"]
COLORS = ["black", "midnight blue", "sage green", "silver", "lavender", "white", "coral"]
COUNTRIES = ["Spain", "Italy", "Turkey", "Thailand", "Japan", "Switzerland", "Morocco",
             "Portugal", "Greece", "Iceland", "Vietnam", "Brazil", "Australia", "Kenya"]
CITIES = ["Columbus", "Denver", "Sacramento", "Raleigh", "Tucson", "Omaha", "Spokane",
          "Madison", "Richmond", "Boise", "Dayton", "Fresno"]
CARRIERS = ["UPS", "FedEx", "USPS", "DHL"]
STREETS = ["41 Larkspur Road", "12 Harbor View Drive", "88 Juniper Lane", "230 Mill Street",
           "7 Orchard Close", "1502 Elm Avenue", "19 Quarry Hill Road", "65 Birchwood Court"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]


def money(x: float) -> str:
    return f"{x:.2f}"


def ordinal(n: int) -> str:
    suf = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suf}"


def article(thing: str) -> str:
    return ("an " if thing[0].lower() in "aeio" or thing.startswith("iPhone") else "a ") + thing


def en_slots(rng: random.Random) -> dict:
    first = rng.choice(FIRST)
    p = rng.randrange(len(PLANS) - 1)
    plan, price, gb = PLANS[p]
    plan2, price2, gb2 = PLANS[rng.randrange(p + 1, len(PLANS))]
    m = rng.randrange(12)
    d = rng.randint(2, 20)
    dev, dev2 = rng.sample(DEVICES, 2)
    col, col2 = rng.sample(COLORS, 2)
    extra = rng.choice([12.5, 18.0, 23.4, 31.2, 9.99, 27.0, 44.1, 15.75])
    amount = price + rng.choice([0, 0, 4.99, 8.0, 10.5]) + rng.choice([0.0, 0.49, 0.99])
    return {
        "c": first,
        "last": rng.choice(LAST),
        "a": rng.choice([x for x in AGENTS if x != first]),
        "sup": rng.choice(SUPERVISORS),
        "plan": plan, "price": money(price), "gb": str(gb or rng.choice([48, 63, 71, 90])),
        "plan2": plan2, "price2": money(price2 - rng.choice([0, 3, 5])),
        "gb2": str(gb2 or 100),
        "amount": money(amount),
        "amount2": money(amount + extra),
        "extra": money(extra), "half": money(extra / 2), "total": money(price + extra),
        "small": money(rng.choice([20, 30, 40, 50])),
        "prorate": money(rng.uniform(3, 14)),
        "disc": money(price * 0.7),
        "ship": rng.choice(["4.99", "7.99", "9.99", "12.99"]),
        "excess": rng.choice(["49", "75", "99", "125"]),
        "month": MONTHS[m],
        "date": f"{MONTHS[m]} {d}",
        "eta": f"{MONTHS[m]} {d + rng.randint(2, 6)}",
        "day": ordinal(rng.choice([1, 5, 10, 15, 20, 25, 28])),
        "order": f"NW-{rng.randint(100000, 999999)}",
        "ref": f"NWC-{rng.randint(1000000, 9999999)}",
        "device": dev, "device2": dev2, "color": col, "color2": col2,
        "adevice": article(dev), "adevice2": article(dev2),
        "zip": str(rng.randint(10000, 99999)),
        "country": rng.choice(COUNTRIES),
        "city": rng.choice(CITIES),
        "carrier": rng.choice(CARRIERS),
        "street": rng.choice(STREETS),
        "street2": rng.choice(STREETS),
        "months": str(rng.randint(3, 17)),
        "time": rng.choice(["2pm", "3:30pm", "5pm", "6pm", "8pm"]),
        "last4": str(rng.randint(1000, 9999)),
        "speed": str(rng.choice([0.4, 0.8, 1.2, 2.5])),
        "credit": money(rng.choice([10, 15, 20, 25, 30])),
        "big": f"{rng.choice([967, 1840, 2310, 3125, 1475]):,}",
    }


_SLOT = re.compile(r"\{(\w+)\}")


def fill(text: str, s: dict) -> str:
    return _SLOT.sub(lambda m: str(s[m.group(1)]), text)


# ---------------------------------------------------------------------------
# English scenarios. Each step is a list of options; an option is
# (customer variants, agent variants) that fit together.
# ---------------------------------------------------------------------------
def opt(cust, agent):
    return (cust, agent)


SCENARIOS = {}

SCENARIOS["billing_double_charge"] = {
    "open": [
        "Hi, I've just checked my bank app and you've taken ${amount} twice for my {month} bill. Can you look into this please?",
        "I was charged twice this month. Two payments of ${amount} went out on the same day and I only have one line with you.",
        "Why have I been billed twice? My card statement shows two identical charges from Northwind Mobile for ${amount}.",
        "hello, there's a duplicate payment on my account for {month}, ${amount} each time. I need one of them back asap, rent is due this week",
    ],
    "first": [
        "I'm sorry to hear about the double payment. I've opened your account and I can see two card payments of ${amount} on {date}. The second one was taken when the first payment's confirmation timed out on our side, so it's a genuine duplicate.",
        "Thanks for flagging this. Looking at your payment history, there are indeed two successful payments of ${amount} for the {month} bill. That shouldn't have happened and I apologise for the inconvenience.",
        "Let me check that for you. Yes, I can see the duplicate: both payments went through a few minutes apart on {date}. I'll raise a refund for the second one straight away.",
    ],
    "steps": [
        [opt(["How long will the refund take?", "When will I get the money back?",
              "Ok, and how long until it's back in my account?"],
             ["Refunds to a card usually show within 3 to 5 working days, depending on your bank. I've put the refund through now under reference {ref}, so you don't need to do anything else.",
              "The refund has been submitted under reference {ref}. Most banks show it within 3-5 working days, although some take up to 7. If it hasn't arrived by {eta}, reply here with the reference and we'll chase it for you."])],
        [opt(["Will this happen again next month?", "Can you make sure my next payment isn't doubled as well?"],
             ["It shouldn't. The issue was caused by a timeout in our payment system on {date}, which our engineers have since fixed. I've also added a note to your account so the billing team double-checks your next payment."]),
         opt(["Is there anything I need to change so it doesn't happen again?"],
             ["No changes are needed on your side. To be safe, I've switched your account to a single scheduled payment on the {day} of each month, so a retry can't create a second charge."])],
        [opt(["Could I get something in writing for my records?", "Can you email me confirmation of the refund?"],
             ["Of course. I've sent a confirmation to the email address on your account with the refund amount, the reference number and the expected date. It can take a few minutes to arrive, so check your spam folder if you don't see it.",
              "Done. You'll get an email confirmation in the next few minutes. It includes reference {ref}, which you can quote if you ever need to contact us about this again."])],
    ],
}

SCENARIOS["bill_higher"] = {
    "open": [
        "My bill this month is ${total} instead of the usual ${price}. What's the extra for?",
        "Hi, can someone explain my latest bill? It's way more than I normally pay and I haven't changed anything.",
        "I just got my {month} invoice and there's a charge on it I don't recognise.",
        "why is my bill so high this month?? i'm on the {plan} plan and it's normally ${price}",
    ],
    "branches": [
        {"first": ["I can understand why that's worrying. Looking at your {month} bill, the difference comes from ${extra} of data you used after your {gb} GB allowance ran out on {date}. Out-of-bundle data is charged at $10 per GB, billed by the MB."],
             "steps": [
                 [opt(["I didn't know that. Can you waive it this time?", "I had no idea, nobody told me. Is there anything you can do about the charge?"],
                      ["I've applied a one-off goodwill credit of ${extra}, which will show on your next bill. I'd also recommend turning on usage alerts in the app under Account > Usage alerts, so you get a text before any extra charges kick in.",
                       "I can't remove the whole amount, but I've credited half of it, ${half}, as a gesture of goodwill. It will show on your next bill."])],
                 [opt(["How do I stop this in future?", "Ok. How do I make sure it doesn't happen again?"],
                      ["The easiest way is a monthly spend cap. I've set yours to $0 for anything outside your plan, so once you reach your allowance you'll get a text and data will pause until your next billing date.",
                       "I've switched on alerts at 80% and 100% of your allowance and turned off automatic out-of-bundle data. Once you hit your limit, data pauses until you add a booster in the app."])],
             ]},
        {"first": ["Let me break it down for you. Your plan charge is ${price} as usual. The additional ${extra} is for a premium SMS subscription, which means messages sent to a short code. That's usually a game, quiz or competition service."],
             "steps": [
                 [opt(["That's not right, I never signed up for anything like that.", "I didn't sign up for any of that. Can you refund it?"],
                      ["I'm sorry. Unfortunately these subscriptions often start from a tap on an online ad or inside a game. I've cancelled the subscription and refunded the full ${extra}, which you'll see on your next bill.",
                       "I understand, and I've stopped the subscription so there won't be any further charges. I've also raised a dispute with the service provider and credited the ${extra} to your account while it's investigated."])],
                 [opt(["Can you block this kind of thing on my line?", "How do I stop this in future?"],
                      ["I've added a bar on premium-rate numbers and short codes to your line, which takes effect within an hour. You can manage bars yourself any time in the app under Settings > Call & message barring."])],
             ]},
        {"first": ["Thanks for your patience while I checked. There's a one-off charge of ${extra} for calls to international numbers on {date}. Calls abroad aren't included in the {plan} plan, which is why they were billed separately."],
             "steps": [
                 [opt(["Oh, those were calls to my family. I didn't realise they weren't included.", "I didn't know that. Can you waive it this time?"],
                      ["That's an easy mistake to make. As it's the first time, I've applied a one-off credit of ${half}, which is half the international charges, to your next bill.",
                       "I understand. I can't remove the charge completely, but I've credited ${half} as a goodwill gesture, and it will show on your next bill."])],
                 [opt(["Is there a cheaper way to call abroad?", "What should I do next time?"],
                      ["Our World Calling add-on is $5 a month and includes 300 minutes to landlines and mobiles in over 50 countries. I've sent you a text with a link to add it in the app.",
                       "If you call family abroad regularly, the World Calling add-on will save you a lot: it's $5 a month for 300 international minutes. You can add or remove it in the app whenever you like."])],
             ]},
    ],
}

SCENARIOS["payment_update"] = {
    "branches": [
        {"open": ["My card expired last month and I think my payment failed. How do I update it?",
                   "I got a text saying my payment was declined. I have a new card now, where do I put the details?",
                   "hey, my bank replaced my card after some fraud and now my bill payment has failed"],
             "first": ["Thanks for letting us know. The payment on {date} was declined because the card on file is no longer valid. You can add the new one in the app under Account > Payment methods, or on the Northwind website under My account if you prefer a browser.",
                    "No problem, I can help with that. For security we never take card details over chat, but you can add the new card in a couple of minutes in the My Northwind app: go to Account > Payment methods > Add card, then set it as your default."],
             "steps": [
                 [opt(["Done, I've added the new one. Will it take the missed payment automatically?",
                       "OK I've updated it. What about the payment that failed?"],
                      ["We'll retry the outstanding ${amount} on the new card within 24 hours. There's no late fee as long as it goes through before {eta}, so you're all set.",
                       "I can see the new card on your account now. I've triggered a retry for the outstanding balance of ${amount}; you should see the payment go out within the next few hours."])],
                 [opt(["Is my service going to be cut off?"],
                      ["No, your service stays active. We only restrict a line after 30 days of non-payment, and we'd always send several reminders before that."]),
                  opt(["Will this affect my credit score?"],
                      ["A single late payment that's settled within a few days isn't reported to credit agencies. Since the retry is going through now, there's nothing to worry about."])],
             ]},
        {"open": ["Hi, I want to change the card I pay my bill with.", "How do I switch my bill payments to a different card?"],
             "first": ["Sure. For security we never take card details over chat, but you can change it in a couple of minutes in the My Northwind app: go to Account > Payment methods > Add card, then tap 'Set as default'."],
             "steps": [
                 [opt(["Done. Will my next bill come from the new card?", "Ok, added it. Is that it?"],
                      ["That's it. Your next bill on the {day} will be taken from the new card. You can remove the old card from the same menu if you don't want it stored any more."])],
             ]},
    ],
}

SCENARIOS["delivery_late"] = {
    "open": [
        "Hi, I ordered {adevice} on {date} and it still hasn't arrived. Order number {order}.",
        "Where is my order? It was supposed to come on {date} and the tracking hasn't updated in four days. {order}",
        "My delivery is late. Order {order}, the website said 2-3 days and it's been over a week.",
        "hi, still waiting on order {order} \U0001F615 the tracking just says 'in transit'",
    ],
    "first": [
        "I'm sorry your order is taking longer than expected. I've checked {order} and the parcel left our warehouse on {date}. The courier's last scan was at their {city} depot, which means it's been held up there.",
        "Thanks for the order number. I can see the {device} was dispatched with {carrier}, but the tracking hasn't moved since it reached the local depot. That usually means it was missorted or the depot is backed up.",
        "Let me look into that for you. Your parcel was handed to {carrier} on {date}, and their system shows a failed delivery attempt yesterday with the note 'address not found'.",
    ],
    "steps": [
        [opt(["What happens now?", "So what can you do?", "That's annoying. Can you chase it?"],
             ["I've opened an investigation with {carrier} under reference {ref}. They normally reply within 48 hours. If the parcel can't be located by then, we'll send a replacement by express delivery at no cost.",
              "I've asked the courier to prioritise it and re-attempt delivery. If it doesn't arrive by {eta}, we'll either dispatch a replacement or refund you in full, whichever you prefer."])],
        [opt(["Can I pick it up myself instead?",
              "Could you send it somewhere else? I'm at work during the day."],
             ["Yes, once it's back in the system you can choose a pickup point. I'll send you a link by text as soon as the courier updates the parcel status, usually within a day.",
              "I can't change the address while the parcel is in transit, but I've requested a redirect to our {city} store. You'll get a text when it's ready to collect. Just bring photo ID and your order number."])],
        [opt(["Ok thanks. I really need it before the weekend.", "Fine, but I'm not happy, I paid for fast delivery."],
             ["Understood. I've refunded the ${ship} delivery fee since it didn't arrive in the promised time, and I've flagged the order as urgent.",
              "That's completely fair. I've refunded your ${ship} express delivery charge to your original payment method, and I've marked the order as urgent with the courier."])],
    ],
}

SCENARIOS["wrong_item"] = {
    "open": [
        "I received the wrong phone. I ordered {adevice} in {color} and got a {color2} one.",
        "Hi, my order {order} arrived today but it's the wrong item. It's just a case and a charger, no phone.",
        "The box I got has {adevice2} in it, but I ordered the {device}.",
    ],
    "first": [
        "I'm really sorry about that mix-up. I can see order {order} should have contained {adevice} in {color}. I'll arrange an exchange so you get the right item.",
        "Apologies for the error, that's clearly a picking mistake at our warehouse. The good news is that exchanges for wrong items are free, and you won't need to pay anything upfront.",
    ],
    "steps": [
        [opt(["How do I send it back?", "What do I do with the one I got?"],
             ["I've emailed you a prepaid return label. Just pack the item in its original box, attach the label and drop it at any {carrier} location. Please don't open or activate the device.",
              "You'll receive a prepaid return label by email within the next hour. Once the courier scans the return, we'll ship the correct {device} the same day, so you won't have to wait for the return to reach us."])],
        [opt(["Do I need to wait for you to get it back before you send the right one?"],
             ["No, we'll send the correct item as soon as the return label is scanned. Delivery is 1-2 working days after that."]),
         opt(["How long for the replacement?", "How long will the right one take to arrive?"],
             ["The replacement ships within 24 hours of the return scan and usually arrives in 1-2 working days. You'll get the tracking link by text."])],
    ],
}

SCENARIOS["damaged"] = {
    "open": [
        "My new {device} arrived with a cracked screen. The box looked fine from the outside.",
        "The phone I got from you won't turn on, and there's a dent on the corner. Order {order}.",
        "hi the screen on my {device} is cracked straight out of the box, what do i do",
    ],
    "first": [
        "I'm so sorry, that's not the experience we want you to have. Could you send a photo of the damage and of the label on the box? That lets me approve a replacement straight away.",
        "That's really disappointing, and I apologise. Items damaged in transit are covered, so we'll replace it. First, could you share a quick photo of the damage here in the chat?",
    ],
    "steps": [
        [opt(["Sent the photos just now.", "OK, I've attached two pictures.", "[photo attached] here you go"],
             ["Thank you, that's clearly transit damage. I've approved a replacement under reference {ref}. A courier will collect the damaged phone and drop off the new one at the same time on {eta}, so you won't be without a device for long.",
              "Thanks, I can see the damage in the photos. I've approved an exchange and the new {device} will be dispatched today. The courier will take the damaged one away at the door, so please have it packed in the original box."])],
        [opt(["Do I need to do a factory reset first?", "Should I take my SIM out before sending it back?"],
             ["Yes please. Remove your SIM and any memory card, and if you signed in to the phone, remove your account so the device isn't locked. If it won't turn on, don't worry, just include a note with your order number.",
              "Please take out your SIM card and sign out of any accounts on the phone. If you've already set it up, a factory reset under Settings > System > Reset is best, but don't worry if that's not possible."])],
    ],
}

SCENARIOS["password_reset"] = {
    "branches": [
        {"open": ["Locked out of my account after too many attempts. Help please",
                   "I can't log into the My Northwind app. It keeps saying my password is wrong."],
             "first": ["Sorry about the trouble. I can see your account was locked after five failed attempts, which is a security measure. I've unlocked it now, so you can request a fresh reset link."],
             "steps": [
                 [opt(["Just requested a new one, it's here now.", "Ok, the new link arrived."],
                      ["Great. Once you set the new password, you'll be signed out of other devices for security, so you'll need to log in again on your tablet or laptop if you use them."])],
             ]},
        {"open": ["I can't log into the My Northwind app. It keeps saying my password is wrong and the reset email never comes.",
                   "Hi, I forgot my password and the reset email isn't arriving."],
             "first": ["Let me help you get back in. Reset emails sometimes get caught by spam filters, especially on work email accounts. Could you check your spam or junk folder for a message from Northwind Mobile with the subject 'Reset your password'?"],
             "steps": [
                 [opt(["I found it in spam. The link says it's expired though."],
                      ["Links expire after 30 minutes, so please request a new one and use it straight away. Once you're in, mark our email as 'not spam' so future messages land in your inbox."]),
                  opt(["Still nothing.", "Nope, nothing in spam either."],
                      ["In that case, I can send the reset code by text to the mobile number on the account instead. I've just sent it, so it should arrive within a minute."])],
             ]},
        {"open": ["The reset code you sent expired before I could use it. Twice now."],
             "first": ["I'm sorry about that. Reset codes are only valid for 10 minutes, so it's easy for them to expire. I've cleared the old codes on your account, so if you request a new one now it'll be the only valid code."],
             "steps": [
                 [opt(["Ok, new code arrived.", "Got a new one, thanks."],
                      ["Great. Once you set the new password, you'll be signed out of other devices for security, so you'll need to log in again on any other devices you use."])],
             ]},
    ],
    "steps_tail": [
        [opt(["I'm in now, thank you. Can I turn on two-factor authentication?"],
             ["Yes, and I'd recommend it. In the app go to Settings > Security > Two-step verification and choose either text message or an authenticator app. It only takes a minute to set up."]),
         opt(["Got in. Is there a way to stop this happening again?"],
             ["Turning on Face ID or fingerprint login in the app helps a lot, because you won't need to type the password every time. You can enable it under Settings > Security > Biometric login."])],
    ],
}

SCENARIOS["refund_request"] = {
    "open": [
        "I returned {adevice} on {date} and still haven't had my refund.",
        "Hi, I sent back order {order} two weeks ago. When will I get my money?",
        "Refund for my returned earbuds hasn't come through yet. The return was delivered according to the tracking.",
    ],
    "first": [
        "I've looked into it, and your return for order {order} reached our returns centre on {date}. It passed inspection yesterday, so the refund of ${amount} has now been released.",
        "I'm sorry for the wait. Your return arrived with us, but it's still in the inspection queue, which is running about 5 days behind at the moment. I've escalated it so it's processed today.",
    ],
    "steps": [
        [opt(["How long until it reaches my card?", "So when will I actually see it?"],
             ["Card refunds normally take 3-5 working days to appear, depending on your bank. If you paid with PayPal it's usually within 24 hours.",
              "Once released, refunds reach most cards within 3 to 5 working days. You'll get an email confirmation today with reference {ref}."])],
        [opt(["Will I get the delivery fee back too?"],
             ["Yes, because you returned it within the 30-day window, the original ${ship} delivery fee is included in the refund."]),
         opt(["Is the return shipping cost refunded as well?"],
             ["Return shipping was free because you used our prepaid label, so there was nothing to pay for it. The refund covers the full price of the item."])],
    ],
}

SCENARIOS["roaming_activation"] = {
    "open": [
        "I'm travelling to {country} next week. Do I need to do anything to use my phone there?",
        "Hi, going to {country} on {date} for two weeks. How much will it cost to use data?",
        "Does my {plan} plan work in {country}?",
        "flying to {country} tomorrow, is roaming on?",
    ],
    "first": [
        "Good that you're checking before you go. Roaming is switched on for your line, but {country} isn't included in your {plan} plan. You can add a Travel Pass for $10 a day, which lets you use your normal allowance there.",
        "Thanks for asking ahead of your trip. {country} is in our Roaming Zone 2. Without an add-on, data costs $2 per MB, so I'd strongly recommend the Travel Pass: $10 for each day you actually use your phone, and you keep your usual minutes, texts and data.",
        "Happy to help. Your line already has roaming enabled. For {country}, the most cost-effective option is our 7-day Travel Max add-on for $35, which includes 5 GB of data plus unlimited calls back home.",
    ],
    "steps": [
        [opt(["How do I add it?", "Can you add that for me?", "Ok, can I turn it on now or do I have to wait until I land?"],
             ["I've added it to your line now, and it only starts charging on the first day you use your phone in {country}. You'll get a welcome text when you arrive confirming the rates.",
              "You can add it in the app under Plans > Add-ons > Travel, or I can do it for you. I've gone ahead and added it, and you'll get a confirmation text shortly."])],
        [opt(["Do I need to change any settings on my phone?", "Anything I should do when I land?"],
             ["Just make sure Data Roaming is turned on in your phone settings. On an iPhone that's Settings > Mobile Data > Mobile Data Options; on Android it's usually Settings > Network & internet > SIMs. Restarting the phone after you land helps it pick up a local network faster.",
              "When you land, turn Data Roaming on and restart the phone. If you don't get signal within a few minutes, go into network settings and select a network manually. Any of the partner networks listed in the welcome text will work."])],
        [opt(["What about calls to local numbers there?", "Are incoming calls free?"],
             ["Calls to local numbers in {country} come out of your plan minutes while the pass is active. Incoming calls are free too.",
              "Incoming calls are free with the pass, and calls to local numbers come out of your usual minutes. Calls to other countries are charged at standard international rates."])],
    ],
}

SCENARIOS["roaming_charges"] = {
    "open": [
        "I've just got back from {country} and there's ${amount2} of roaming charges on my bill!",
        "Why was I charged for roaming? I thought I had data roaming switched off the whole time I was in {country}.",
        "Hi, I got a text saying I'd reached my $50 roaming limit. I barely used my phone in {country}.",
    ],
    "first": [
        "I'm sorry for the shock. Looking at the usage, most of it came from background data on {date}, about 400 MB in a couple of hours. That's usually an app update or a photo backup running in the background.",
        "Let me check the details. Data roaming was switched on from {date}, possibly after a software update on your phone, and it used around 300 MB before the roaming cap stopped it. I understand how frustrating that is.",
        "Thanks for reaching out. I can see your phone connected to a network in {country} on {date} and used data on 3 separate days. Since there was no Travel Pass on the line, standard roaming rates applied.",
    ],
    "steps": [
        [opt(["That's ridiculous, nobody warned me. Can you do anything?", "I really can't afford that. Is there any way to reduce it?"],
             ["I've applied the Travel Pass rate retroactively, so you're only charged $10 for each day you used data. That brings it down to ${small}, and I've credited the difference to your account.",
              "I can see you've been with us a long time, so I've credited 75% of the roaming charges as a one-off goodwill gesture. The adjustment will show on your next bill."])],
        [opt(["Thanks. How do I avoid this next time?", "Ok. And next time I travel?"],
             ["Before you travel, add a Travel Pass in the app, and keep the $50 roaming cap on. It's on by default, and we'll send a text before you reach it. I've also turned on usage alerts for your line.",
              "The safest option is to add the Travel Pass before you leave. You can also turn off background app refresh and automatic photo backups while abroad, which saves a lot of data."])],
    ],
}

SCENARIOS["esim_setup"] = {
    "open": [
        "I just got a new {device} and want to switch my SIM to eSIM. How does it work?",
        "Hi, can I move my number to an eSIM? My new phone doesn't have a SIM tray.",
        "How do I set up eSIM on my {device}? The QR code you sent isn't working.",
    ],
    "first": [
        "Yes, you can switch to eSIM for free. I'll send an eSIM QR code to the email on your account. Before you scan it, make sure your phone is connected to Wi-Fi, because the profile downloads over the internet.",
        "Good news, the {device} fully supports eSIM. I'll generate a new eSIM profile and email you the QR code. Once you install it, your physical SIM will stop working, so only do this when you're ready to switch.",
        "Sorry it's giving you trouble. A QR code can only be used once, so if an earlier scan failed partway through, the code is no longer valid. I've cancelled the old profile and issued a new one to your email.",
    ],
    "steps": [
        [opt(["Got the QR code. Where do I scan it?", "OK I have the email. What now?"],
             ["On your {device}, go to Settings > Mobile Data (or Connections on Samsung) > Add eSIM, then choose 'Use QR code' and point the camera at the code. The install takes about a minute.",
              "Go to Settings > Network & internet > SIMs > Download a SIM instead, then scan the code. Keep the phone on Wi-Fi and don't lock the screen until it says the eSIM is active."])],
        [opt(["It says 'eSIM activated' but I don't have signal.", "Done, but there's no service yet."],
             ["That's normal for the first few minutes. Please restart the phone; it usually picks up the network straight after. If you still see 'No service' after 10 minutes, let me know and I'll refresh the line from our side.",
              "Try turning Airplane mode on and off, or restart the phone. The network registration can take up to 15 minutes the first time. I've also sent a refresh signal to your line from our end."])],
        [opt(["Restarted and now it works, 5G and everything!", "Yes, signal is back now."],
             ["Perfect! Your old physical SIM is now deactivated, so you can recycle it. Your number, plan and allowances are all exactly the same.",
              "Excellent. You can throw away the old SIM card now, it's been deactivated. Your number and plan haven't changed."])],
    ],
}

SCENARIOS["apn_data"] = {
    "open": [
        "Calls and texts work but mobile data doesn't on my new {device}.",
        "My data stopped working after I put my SIM in a different phone.",
        "No internet unless I'm on wifi. Signal shows full bars.",
    ],
    "first": [
        "Thanks for the details. When a SIM moves to a new phone, the internet settings (the APN) sometimes don't come across automatically. Let's check them: on your phone, go to Settings > Network & internet > SIMs > Access Point Names.",
        "Sorry about that. I've checked the network side and your data is active with no bars on the line, so it's most likely a phone setting. Could you check that mobile data is switched on, and tell me what you see under Access Point Names?",
    ],
    "steps": [
        [opt(["There's nothing listed there."],
             ["Please tap '+' to add a new one with these details:\nName: Northwind\nAPN: internet.northwind\nLeave everything else as default, save it, then select it as the active APN."]),
         opt(["It shows an APN called 'internet' from my old provider."],
             ["That's the problem, it's still using your previous provider's settings. Please delete it and add a new APN:\nName: Northwind\nAPN: internet.northwind\nThen restart the phone."])],
        [opt(["Done, and it works now!", "Added it. Data is working again."],
             ["Great to hear. I've also sent the settings to your phone by text, so you can just tap to install them if you ever need to set them up again.",
              "Brilliant. If you ever reset the phone's network settings you'll need to re-enter the APN, so I've texted you the details to keep."])],
    ],
}

SCENARIOS["plan_upgrade"] = {
    "open": [
        "I keep running out of data before the end of the month. What are my options?",
        "Hi, I'd like to upgrade from {plan} to something with more data.",
        "What's the cheapest plan with more data than I have now?",
    ],
    "first": [
        "Happy to help you find a better fit. You're on {plan} at ${price} a month, and you've gone over your allowance in 3 of the last 4 months. {plan2} would give you more data for ${price2} a month, which covers your typical usage.",
        "Sure! Based on your last three months, you use around {gb} GB a month. Our {plan2} plan at ${price2} a month would suit you, and you'd stop paying for extra data bundles.",
    ],
    "steps": [
        [opt(["Is there a contract with that?", "Will I have to sign a new contract?"],
             ["No, all our SIM-only plans are rolling monthly, so you can change or cancel with 30 days' notice. Your current device payments aren't affected.",
              "It's a 30-day rolling plan, so there's no new minimum term. If you're still paying off a phone with us, that agreement stays exactly as it is."])],
        [opt(["Ok, let's do it. When does it start?", "Go ahead and switch me please."],
             ["Done. The upgrade takes effect immediately, and you'll see a pro-rated charge of ${prorate} on your next bill for the rest of this month. Your new allowance is available now.",
              "All set, you're now on {plan2}. Because it's an upgrade, it applies straight away and your next bill will include a small pro-rated amount of ${prorate}. I've sent a confirmation email."])],
    ],
}

SCENARIOS["cancel_contract"] = {
    "branches": [
        {"open": ["Hi, I'm moving abroad next month and need to close my account.", "I'm relocating overseas in a few weeks, so I need to cancel my line."],
             "first": ["I can help with that, and good luck with the move! Your plan is on a 30-day rolling contract, so if you cancel today the line will close on {eta} and there are no early termination fees.",
                    "I can help with that. Just so you're aware, you still have {months} months left on your device plan, so the remaining balance for the phone would become due when the line closes."],
             "steps": [
                 [opt(["Can I keep my number while I'm away?", "What happens to my number?"],
                      ["If you'd like to keep it, we can move you to our $5-a-month Number Keeper plan instead of cancelling. There are no allowances, but the number stays yours and texts still arrive, which is handy for bank codes. Otherwise, the number is released 90 days after the line closes.",
                       "Once the line closes, the number is kept for 90 days and then released. If you want to hold on to it, the Number Keeper plan costs $5 a month and keeps it active for incoming texts, which many people use for bank verification codes."])],
                 [opt(["No, just cancel it please.", "Ok, please go ahead and cancel."],
                      ["Done. I've processed the cancellation and your line will stay active until {eta}. You'll receive a final bill after that date, and a confirmation email is on its way now."]),
                  opt(["The Number Keeper plan sounds good, let's do that.", "I'll keep the number, please switch me to that."],
                      ["Great, I've scheduled the switch to Number Keeper for {eta}, so your current plan runs until then. You'll get a confirmation email shortly."])],
             ]},
        {"open": ["I want to cancel my contract. What's the process?", "Please cancel my line. I've found a cheaper deal elsewhere."],
             "first": ["I'm sorry to hear you'd like to leave. Before I process anything, can I ask what's behind the decision? If it's the price, I may be able to offer you something that beats the other deal.",
                    "Thanks for letting us know. I can help with that, but first, may I ask what the other offer is? I might be able to match or beat it."],
             "steps": [
                 [opt(["Mostly the price. The other network is offering more data for less.", "It's just too expensive for what I use."],
                      ["I can put you on {plan2} at ${price2} a month for the next 12 months, and you'd keep your number and your loyalty discount. Would you like to go ahead with that instead?",
                       "I understand. I can offer you 30% off your current plan for 6 months, which brings it down to ${disc} a month. No new contract needed. Would that work for you?"])],
                 [opt(["No thanks, I'd still like to cancel.", "I appreciate it but I've made up my mind."],
                      ["Understood. I've processed the cancellation and your line will stay active until {eta}. If you're keeping your number, request a port-out PIN in the app under Account > Number transfer before that date, and give it to your new provider.",
                       "No problem, I've submitted the cancellation. You'll receive a final bill after {eta}, and a confirmation email is on its way now. If you want to keep your number, make sure your new provider starts the transfer before the line closes."]),
                  opt(["That's actually a good deal. Ok, let's do that.", "Fine, if you can do that I'll stay."],
                      ["Great, I've applied it to your account and it starts from your next bill. I've withdrawn the cancellation request, so nothing else changes.",
                       "Brilliant, that's done. The new price shows on your next bill and you'll get a confirmation email with the details in a few minutes."])],
             ]},
    ],
}

SCENARIOS["lost_phone"] = {
    "open": [
        "My phone was stolen last night. Can you block my SIM?",
        "I lost my phone on the train. I need to stop anyone using my number.",
        "URGENT phone stolen, please block the line",
    ],
    "first": [
        "I'm really sorry to hear that. I've placed an immediate block on your SIM, so no calls, texts or data can be used on it. I'd also recommend reporting the theft to the police and getting a reference number.",
        "I'm sorry, that's horrible. I've suspended the line so nobody can use it, effective immediately. We can also block the handset itself on all networks using its IMEI, so it's useless to whoever has it.",
    ],
    "steps": [
        [opt(["Thanks. How do I get a new SIM with the same number?", "Can I keep my number?"],
             ["Your number is safe. I've ordered a free replacement SIM to your billing address, and it should arrive in 1-2 working days. Once it arrives, activate it in the app and your number will move across.",
              "Your number stays with you. If you have an eSIM-compatible phone to use in the meantime, I can send an eSIM QR code right now instead of waiting for a physical SIM."])],
        [opt(["Will I still be charged for the phone?", "I still owe money on the phone, what happens with that?"],
             ["Your device plan payments continue as normal, I'm afraid, because the phone is still covered by the agreement. If you have Northwind Protect insurance, you can make a claim in the app and the excess is ${excess}.",
              "The device payments carry on, but if you have phone insurance with us, you can claim a replacement. I can see Northwind Protect on your account, so I've started a claim for you under reference {ref}."])],
    ],
}

SCENARIOS["number_port"] = {
    "branches": [
        {"open": ["I'm joining from another network and want to keep my number. How do I do that?", "How do I bring my number over from my old provider?"],
             "first": ["Welcome to Northwind! To bring your number over, you'll need the port-out PIN and your account number from your current provider. Once you have those, you can enter them in the app under Account > Transfer my number."],
             "steps": [
                 [opt(["Will I lose service during the switch?"],
                      ["There might be a short gap of up to a couple of hours while the number moves over. Keep your old SIM in until it stops working, then put in the Northwind SIM and restart the phone."])],
                 [opt(["Do I need to cancel my old contract?", "And do I have to cancel with my old provider myself?"],
                      ["No, once the transfer completes, your old contract is cancelled automatically. Just make sure you pay any final bill they send."])],
             ]},
        {"open": ["Hi, my number transfer was supposed to happen today but I still have the temporary number on the new SIM.", "My number still hasn't moved over. It was meant to be done today."],
             "first": ["Sorry for the wait. Number transfers usually complete by 6pm on the scheduled day. I can see yours is scheduled for today and is in progress with your old provider."],
             "steps": [
                 [opt(["It's 7pm and still nothing.", "Ok. It's been a few hours now and I still have the temporary number."],
                      ["Thanks for checking. I've contacted the porting team and there was a mismatch in the account number supplied. I've corrected it and resubmitted, so it should complete by tomorrow midday.",
                       "I've checked with the porting team, and the transfer was rejected by your old provider because the PIN had expired. Could you request a new PIN from them? Once you send it to me, I'll resubmit it straight away."])],
             ]},
    ],
}

SCENARIOS["broadband_outage"] = {
    "open": [
        "My home internet has been down since this morning. Router light is flashing red.",
        "Is there an outage in {city}? My broadband keeps dropping every few minutes.",
        "No internet at home for two days now. I work from home, this is a disaster.",
    ],
    "branches": [
        {"first": ["I'm sorry you're without internet. I've checked your area and there's a known fault at the local exchange which engineers are working on. The current estimate for a fix is {time} today."],
             "steps": [
                 [opt(["Is there anything I can do in the meantime?", "What am I supposed to do until then?"],
                      ["I've added 50 GB of extra mobile data to your line for free, so you can use your phone as a hotspot until it's fixed. You'll also get a text as soon as the repair is complete."])],
                 [opt(["Can I get some compensation for the days without internet?", "I pay for this service. What about compensation?"],
                      ["Yes, you're entitled to automatic compensation of $8 for each full day without service after the second day. It'll be credited to your next bill, so you don't need to claim it."])],
             ]},
        {"first": ["Thanks for letting us know. There's no outage reported in your area, so let's check your equipment. Could you unplug the router for 30 seconds, plug it back in, and tell me what colour the lights are after 5 minutes?"],
             "steps": [
                 [opt(["Done, the light is still red.", "Restarted it, now it's flashing orange."],
                      ["Thanks. I've run a line test and it shows a fault between the street cabinet and your home, so I've booked an engineer visit for {eta} between 8am and 1pm. Someone needs to be home to let them in.",
                       "That suggests the router isn't syncing with the line. I've reset the connection from our side, so please give it 10 minutes. If it's still not working after that, I'll book an engineer."])],
                 [opt(["Can I get some compensation for the days without internet?", "I pay for this service and I've had nothing for days. What about compensation?"],
                      ["Yes, you're entitled to automatic compensation of $8 for each full day without service after the second day. It'll be credited to your next bill, so you don't need to claim it.",
                       "Absolutely. I've applied a credit for the days affected, and I've added 50 GB of extra mobile data to your line for free so you can use your phone as a hotspot until it's fixed."])],
             ]},
    ],
}

SCENARIOS["address_change"] = {
    "close_at_end_only": True,
    "open": [
        "I've moved house. How do I update my address?",
        "Hi, I need to change my billing address please.",
        "Moved last weekend, can you update my details so the bills go to the right place",
    ],
    "branches": [
        {"first": ["Congratulations on the move! You can update your billing address in the app under Account > Personal details. If you'd rather I do it, I'll just need to ask a quick security question first."],
             "steps": [
                 [opt(["Can you do it for me? The app keeps crashing.", "I'd rather you did it, please."],
                      ["Of course. For security, could you confirm the first line of your old address?"])],
                 [opt(["It was {street}.", "Old address is {street}."],
                      ["Thanks, that matches what we have. What's the new address?"])],
                 [opt(["It's {street2}, {city}.", "New one is {street2} in {city}."],
                      ["All done. Your billing address is now {street2}, {city}. Your next bill will go there, and I've sent a confirmation text to your number."])],
             ]},
        {"first": ["Sure, I can help with that. For security, could you first confirm the first line of your old address?"],
             "steps": [
                 [opt(["It was {street}.", "Old address is {street}."],
                      ["Thank you, you're verified. Please go ahead and send me the new address, including the ZIP code."])],
                 [opt(["It's {street2}, {city}.", "New one is {street2} in {city}."],
                      ["Perfect, I've updated it. If you also have home broadband with us, that needs a separate move request, which I'm happy to set up if you need it.",
                       "All done. Your billing address is now {street2}, {city}, and your next bill will go there. I've sent a confirmation text to your number."])],
             ]},
    ],
}

SCENARIOS["slow_data"] = {
    "open": [
        "My mobile data has been really slow for the past week, pages barely load.",
        "Why is my 5G so slow? Speed tests show under {speed} Mbps.",
        "Internet on my phone is painfully slow at home but fine in town.",
    ],
    "branches": [
        {"first": ["Sorry to hear that. I've checked the network around your home and there's planned upgrade work on the nearest mast, which is reducing capacity until {eta}. Speeds should improve once that's done."],
             "steps": [
                 [opt(["Is there anything I can do until then?", "That's over a week away. What do I do in the meantime?"],
                      ["Turning on Wi-Fi Calling will keep your calls clear at home, and your phone will use Wi-Fi for calls and texts automatically. Speeds away from your area aren't affected by the work."])],
                 [opt(["Will I get anything back for the bad service?", "I'm paying for a service I'm not getting though."],
                      ["That's fair. I've added a credit of ${credit} to your account for the disruption, which will show on your next bill.",
                       "I completely understand. I've applied a ${credit} credit, and if the speed hasn't improved after the upgrade work, contact us again and we'll look at further options."])],
             ]},
        {"first": ["Thanks for the details. Your line isn't being throttled: you've used {gb} GB this month, which is well within your allowance. Could you try turning 5G off and on again, and let me know the speed on 4G?"],
             "steps": [
                 [opt(["On 4G it's a bit better but still not great.", "Tried that, no real difference."],
                      ["Thanks for testing. I've raised a network report for your area under reference {ref}, which goes straight to our radio engineers. In the meantime, turning on Wi-Fi Calling will keep your calls clear at home.",
                       "Thanks. I've refreshed your line's connection settings from our side, which sometimes clears up slow speeds after a network change. Please restart your phone and run the speed test again in a few minutes."])],
                 [opt(["Will I get anything back for the bad service?", "I'm paying for a service I'm not getting though."],
                      ["That's fair. I've added a credit of ${credit} to your account for the disruption, which will show on your next bill."])],
             ]},
    ],
}

SCENARIOS["voicemail"] = {
    "branches": [
        {"open": ["How do I set up my voicemail? It just rings out.", "Hi, my voicemail doesn't seem to be set up. How do I do it?"],
             "first": ["Of course. To set up voicemail, dial 123 from your phone and follow the prompts to record a greeting and choose a PIN. By default, calls go to voicemail after 20 seconds."],
             "steps": [
                 [opt(["Can I change how long it rings before going to voicemail?", "Is there a way to make it ring longer?"],
                      ["Yes. Dial **61*123**30# and press call to set it to 30 seconds. You can use any value from 5 to 30 seconds, in steps of 5.",
                       "You can, and I've done it from our end: your phone will now ring for 30 seconds before the call goes to voicemail."])],
             ]},
        {"open": ["Can you turn off voicemail on my line? I never use it."],
             "first": ["I can do that for you. I've switched voicemail off on your line, so missed calls will now just ring out. It can take up to 30 minutes to apply."],
             "steps": [
                 [opt(["Can I turn it back on myself later if I need it?"],
                      ["Yes, you can switch it back on any time in the app under Settings > Voicemail, or just message us here."])],
             ]},
        {"open": ["I can't get into my voicemail, it's asking for a PIN I never set."],
             "first": ["No problem. I've reset the voicemail PIN on your line, so if you dial 123 now you'll be asked to create a new one."],
             "steps": [
                 [opt(["Got in, thanks. How do I change the greeting?"],
                      ["Dial 123, press 3 for settings and then 1 for greetings. You can record a personal greeting or use the standard one that reads out your number."])],
             ]},
    ],
}

SCENARIOS["warranty_repair"] = {
    "branches": [
        {"open": ["My {device} has stopped charging. I bought it from you about 8 months ago.", "My phone won't charge any more unless I hold the cable at an angle. It's a {device} from your store."],
             "first": ["Sorry to hear that. Your {device} is still within the 24-month manufacturer warranty, so the repair is free. Before we book it in, could you try a different cable and charger, and check the port for lint?"],
             "steps": [
                 [opt(["Tried another cable, same problem.", "Already tried all that, it's definitely the phone."],
                      ["Thanks for checking. I've booked a warranty repair under reference {ref}. We'll send a prepaid repair box to your address, and repairs take around 5-7 working days from the day it reaches the repair centre.",
                       "Understood. I've opened a repair case, {ref}. You can drop the phone at our {city} store, or we can send a courier. The store option is usually a couple of days faster."])],
             ]},
        {"open": ["The speaker on my phone crackles on every call. Is it still under warranty?", "Battery on my {device} drains from full to nothing in half a day. It's less than a year old."],
             "first": ["That sounds like a hardware fault, and your phone is still covered by the warranty. I can book a free repair for you, either by post or at one of our stores. Which would you prefer?"],
             "steps": [
                 [opt(["By post is easier for me."],
                      ["No problem. I've booked a warranty repair under reference {ref}, and we'll send a prepaid repair box to your address. Repairs take around 5-7 working days from the day it reaches the repair centre."]),
                  opt(["I'll take it to a store."],
                      ["Great, I've opened repair case {ref}. You can drop the phone at our {city} store any time; just bring the phone and your order number."])],
             ]},
    ],
    "steps_tail": [
        [opt(["Can I get a loan phone while it's being repaired?", "What am I supposed to use in the meantime?"],
             ["We can provide a loan phone while yours is being repaired. If you go to a store, they'll give you one on the spot; for postal repairs, it comes in the same box as the repair pack."])],
    ],
}

SCENARIOS["invoice_copy"] = {
    "branches": [
        {"open": ["I need a copy of my invoices for the last three months for my expenses claim.", "Our accountant needs invoices for both business lines. Where can I find them?"],
             "first": ["Sure. You can download every invoice as a PDF in the app under Bills > Previous bills, going back 18 months. If you need them sent somewhere, I can also email them to the address on your account."],
             "steps": [
                 [opt(["Can you just email them to me?", "It's easier if you send them, I can't find it in the app."],
                      ["No problem, I've emailed the last three invoices to the address on your account. They're PDFs, and each one shows our tax number and the full breakdown.",
                       "Done. You should have an email with the invoices attached within a few minutes. If they don't show up, check your spam folder, as PDF attachments sometimes get filtered."])],
                 [opt(["Can the invoices show my company name instead of mine?", "Is it possible to add our company's address to them?"],
                      ["Yes, I've added the company details to your billing profile. Future invoices will show them, and I've regenerated the last three so they include them too.",
                       "Of course. I've updated the billing profile with the company details, and all future invoices will use them. Previous invoices can't be changed, but I can issue a summary letter for your accountant if that helps."])],
             ]},
        {"open": ["Hi, can I get an itemised bill? I need to see which numbers were called."],
             "first": ["Happy to help. Itemised billing is free: in the app go to Bills, choose the month and tap 'Itemised usage'. You can export it as a spreadsheet if that's easier for your records."],
             "steps": [
                 [opt(["Can you just email it to me?", "I don't use the app. Could you send it?"],
                      ["No problem, I've emailed last month's itemised bill to the address on your account. It lists every call with the date, time, duration and cost."])],
             ]},
    ],
}

SCENARIOS["device_upgrade"] = {
    "open": [
        "Am I eligible for an upgrade yet? I've had my phone for about two years.",
        "I'd like to upgrade to the {device}. Can I keep my current plan?",
        "When can I get a new phone on my contract?",
    ],
    "first": [
        "Good news, you're eligible now. Your device plan finished last month, so you can upgrade to any phone without a fee, and you'd keep your number and plan.",
        "You can upgrade now. You have {months} months left on your current device plan, but we'd simply roll the small remaining balance into the new plan, so there's nothing to pay upfront.",
    ],
    "steps": [
        [opt(["How much would the {device} be per month?", "What's the monthly price for the {device} in {color}?"],
             ["The {device} is currently $29.50 a month over 36 months with $0 upfront, on top of your {plan} plan. There's also a trade-in offer that could take up to $300 off if you send us your old phone.",
              "The {device} is $34 a month over 24 months with nothing to pay upfront, and it's in stock in {color}. If you trade in your current phone, you'd get an instant credit based on its condition."])],
        [opt(["Let's go with that.", "Ok, can you order it for me?"],
             ["Great choice! I've placed the order under {order}. It'll be delivered within 2 working days, and you'll get a text with tracking once it's dispatched.",
              "Done, order {order} is confirmed. You'll receive an email with your new device agreement to sign, and the phone ships as soon as that's completed."])],
    ],
}

GENERIC_CLOSE = [
    opt(["Perfect, thanks for your help!", "Great, that's all I needed. Thanks {a}.",
         "OK, thank you. Have a good day.", "Brilliant, appreciate it.", "That's sorted then, thanks!",
         "Thanks, that was quicker than I expected."],
        ["You're welcome, {c}! If anything else comes up, just message us here. Have a great day.",
         "Happy to help. I'll close this chat now, but you can reopen it any time from the Help section of the app. Take care!",
         "Glad we got that sorted. Thanks for being with Northwind Mobile, {c}, and enjoy the rest of your day.",
         "No problem at all. You'll receive a short survey about this chat, and any feedback is appreciated. Bye for now!",
         "My pleasure. Is there anything else I can help with today? If not, have a lovely evening."]),
]
EMAIL_CLOSE = [
    opt(["Thank you, that's all sorted now.", "Thanks for the quick reply, that answers my question.",
         "Many thanks, I'll keep an eye out for it."],
        ["Thank you for confirming. I'll close this case now, but if you reply to this email it will reopen automatically.",
         "Glad I could help. If there's anything else, simply reply to this email and it will come straight back to our team."]),
]

CHAT_GREET = [
    "Hi {c}, thanks for contacting Northwind Mobile. My name is {a} and I'll be helping you today. ",
    "Hello {c}! You're chatting with {a}. ",
    "Hi {c}, {a} here from the Northwind support team. ",
    "Thanks for waiting, {c}. I'm {a}. ",
    "Hi {c}, thanks for your message. I'm {a}. ",
]
WA_GREET = [
    "Hi {c} \U0001F44B {a} here from Northwind Mobile. ",
    "Hey {c}, thanks for your message! This is {a}. ",
    "Hi {c}, {a} from Northwind here. ",
]
EMAIL_C_GREET = ["Hi,", "Hello,", "Hi there,", "Dear Northwind team,", "To whom it may concern,", "Good morning,"]
EMAIL_C_SIGN = ["Thanks,", "Best,", "Regards,", "Kind regards,", "Cheers,", "Many thanks,"]
EMAIL_A_SIGN = ["Kind regards,\n{a}\nNorthwind Mobile Customer Care",
                "Best wishes,\n{a}\nNorthwind Support",
                "Many thanks,\n{a} | Northwind Mobile"]

SYSTEM_EN = [
    "You are Northwind Mobile's support assistant. Be friendly, concise and accurate. Never ask customers for full card numbers or passwords.",
    "You are a customer support agent for Northwind Mobile, a mobile and home broadband provider. Answer in the customer's language, keep replies short, and offer to escalate when you cannot resolve an issue.",
    "You are the Northwind Store help assistant. Help customers with orders, deliveries, returns and refunds. Always repeat order numbers back to the customer and never promise dates you cannot confirm.",
    "You are Northwind's support assistant. Follow the Northwind tone of voice: warm, plain English, no jargon. If a customer mentions a safety concern, treat it as the top priority.",
]
SYSTEM_DE = "Du bist der Kundenservice-Assistent von Northwind Mobile. Antworte freundlich, präzise und auf Deutsch."
SYSTEM_ES = "Eres el asistente de atención al cliente de Northwind Mobile. Responde de forma amable, clara y en español."


# ---------------------------------------------------------------------------
# Message / conversation helpers
# ---------------------------------------------------------------------------
def M(speaker: str, text: str, *tags: str) -> dict:
    return {"speaker": speaker, "text": text, "tags": list(tags)}


def _lower_first(t: str) -> str:
    if t[:2] in ("I ", "I'") or not t[:1].isalpha() or t[1:2].isupper():
        return t
    return t[0].lower() + t[1:]


def style_c(text: str, ch: str, s: dict, rng: random.Random, first: bool) -> str:
    if ch == "whatsapp":
        if rng.random() < 0.5:
            text = _lower_first(text)
        if text.endswith(".") and rng.random() < 0.6:
            text = text[:-1]
    elif ch == "chat":
        if rng.random() < 0.1:
            text = _lower_first(text)
    elif ch == "email":
        text = re.sub(r"^(?:hi there|hi|hello|hey)[,!]?\s+", "", text, flags=re.IGNORECASE)
        text = text[:1].upper() + text[1:]
        if first:
            greet = rng.choice(EMAIL_C_GREET)
            sign = f"{rng.choice(EMAIL_C_SIGN)}\n{s['c']} {s['last']}"
        else:
            greet = fill(rng.choice(["Hi {a},", "Hello {a},", "Hi again,", "Dear {a},"]), s)
            sign = f"{rng.choice(EMAIL_C_SIGN)}\n{s['c']}"
        text = f"{greet}\n\n{text}\n\n{sign}"
    return text


_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def style_a(text: str, ch: str, s: dict, rng: random.Random, first: bool) -> str:
    thanks = text.startswith("Thank")
    if ch in ("chat", "whatsapp"):
        if not first:
            return text
        greets = [g for g in (CHAT_GREET if ch == "chat" else WA_GREET) if not (thanks and "thank" in g.lower())]
        return fill(rng.choice(greets), s) + text
    head = fill(rng.choice(["Dear {c},", "Hi {c},", "Hello {c},"]), s)
    if first and not thanks:
        text = "Thank you for contacting Northwind Mobile. " + text
    if "\n" not in text:
        sents = _SENT.split(text)
        if len(sents) >= 3:
            cut = (len(sents) + 1) // 2
            text = " ".join(sents[:cut]) + "\n\n" + " ".join(sents[cut:])
    return f"{head}\n\n{text}\n\n{fill(rng.choice(EMAIL_A_SIGN), s)}"


def pick_channel(rng: random.Random) -> str:
    return rng.choices(["chat", "email", "whatsapp"], weights=[0.55, 0.2, 0.25])[0]


VERIFY = [
    ("Before I look into this, could you confirm the amount of your last bill? It's just a quick security check.",
     ["It was ${amount} I think", "${amount}", "around ${amount}?"]),
    ("For security, can you please confirm the last four digits of the card you pay with?",
     ["{last4}", "it ends in {last4}"]),
    ("Before we go on, could you confirm the ZIP code on your account, please?",
     ["{zip}", "It's {zip}", "{zip}, same as always"]),
]
VERIFY_OK = ["Thanks, that's confirmed. ", "Perfect, thank you. ", "Thanks, you're verified. ", "Great, that matches. "]
STORE_SCENARIOS = {"delivery_late", "wrong_item", "damaged", "refund_request", "device_upgrade"}
VERIFY_SCENARIOS = {"billing_double_charge", "bill_higher", "roaming_charges", "cancel_contract", "plan_upgrade",
                    "lost_phone", "device_upgrade", "invoice_copy", "payment_update"}


def build_en(rng: random.Random, *, scenario: str | None = None, channel: str | None = None,
             min_k: int = 0, max_msgs: int = 12, system: bool | None = None,
             closing: bool | None = None, slots: dict | None = None) -> dict:
    s = slots or en_slots(rng)
    ch = channel or pick_channel(rng)
    name = scenario or rng.choice(list(SCENARIOS))
    sc = SCENARIOS[name]
    if "branches" in sc:
        sc = {**sc, **rng.choice(sc["branches"])}
    steps = sc["steps"] + sc.get("steps_tail", [])
    nsteps = len(steps)
    kmax = min(nsteps, 2) if ch == "email" else nsteps
    k = rng.choices(range(kmax + 1), weights=[2, 4, 3, 2][: kmax + 1])[0]
    k = max(k, min(min_k, nsteps))
    if system is None:
        system = rng.random() < 0.3
    verify = ch != "email" and name in VERIFY_SCENARIOS and rng.random() < 0.35
    if closing is None:
        closing = rng.random() < (0.3 if ch == "email" else 0.6)
    while int(system) + 2 + 2 * int(verify) + 2 * k + 2 * int(closing) > max_msgs:
        if closing:
            closing = False
        elif verify:
            verify = False
        else:
            k -= 1
    msgs = []
    if system:
        store = name in STORE_SCENARIOS
        msgs.append(M("system", rng.choice([p for i, p in enumerate(SYSTEM_EN) if (i == 2) == store] + [SYSTEM_EN[0]] * store)))
    msgs.append(M("customer", style_c(fill(rng.choice(sc["open"]), s), ch, s, rng, True)))
    first = fill(rng.choice(sc["first"]), s)
    if verify:
        q, answers = rng.choice(VERIFY)
        msgs.append(M("agent", style_a(q, ch, s, rng, True)))
        msgs.append(M("customer", style_c(fill(rng.choice(answers), s), ch, s, rng, False)))
        msgs.append(M("agent", (rng.choice(VERIFY_OK[3:]) if first.startswith("Thank") else rng.choice(VERIFY_OK)) + first))
    else:
        msgs.append(M("agent", style_a(first, ch, s, rng, True)))
    pairs = [rng.choice(step) for step in steps[:k]]
    texts = []
    for cust, agent in pairs:
        texts.append((fill(rng.choice(cust), s), fill(rng.choice(agent), s)))
    last_agent = texts[-1][1] if texts else first
    if (closing and k >= 1 and not last_agent.rstrip().endswith("?")
            and (k == nsteps or not sc.get("close_at_end_only"))):
        o = rng.choice(EMAIL_CLOSE if ch == "email" else GENERIC_CLOSE)
        texts.append((fill(rng.choice(o[0]), s), fill(rng.choice(o[1]), s)))
    for cust, agent in texts:
        msgs.append(M("customer", style_c(cust, ch, s, rng, False)))
        msgs.append(M("agent", style_a(agent, ch, s, rng, False)))
    return {"channel": ch, "messages": msgs, "scenario": name, "slots": s}


def greet(ch: str, s: dict, rng: random.Random, text: str) -> str:
    return style_a(text, ch, s, rng, True)


def script(ch: str, s: dict, rng: random.Random, turns: list, scenario: str) -> dict:
    """turns: list of (speaker, template, *tags). Agent's first reply gets a greeting."""
    msgs, seen_agent, seen_cust = [], False, False
    for speaker, tmpl, *tags in turns:
        text = fill(tmpl, s)
        if speaker == "agent":
            text = style_a(text, ch, s, rng, not seen_agent)
            seen_agent = True
        elif speaker == "customer":
            text = style_c(text, ch, s, rng, not seen_cust) if ch == "email" else text
            seen_cust = True
        msgs.append(M(speaker, text, *tags))
    return {"channel": ch, "messages": msgs, "scenario": scenario, "slots": s}


# ---------------------------------------------------------------------------
# Special English scripts (PII, unsafe content, huge log, ...)
# ---------------------------------------------------------------------------
LOG_TEMPLATES = [
    "{ts} INFO   pppd[{pid}]: LCP: timeout sending Config-Requests",
    "{ts} WARN   pppd[{pid}]: PPPoE: no response to PADI from access concentrator (attempt {n})",
    "{ts} INFO   pppd[{pid}]: PPP session established, local IP 198.51.100.{wan}, remote 198.51.100.1",
    "{ts} INFO   dhcpd[{pid2}]: DHCPREQUEST for 192.168.1.{host} from {mac} via br-lan",
    "{ts} INFO   dhcpd[{pid2}]: DHCPACK on 192.168.1.{host} to {mac} via br-lan lease {lease}s",
    "{ts} ERR    wan[{pid3}]: link down on ptm0.101 (carrier lost), uptime {up}s",
    "{ts} INFO   wan[{pid3}]: link up on ptm0.101, negotiating PPPoE",
    "{ts} WARN   dnsmasq[{pid4}]: failed to send query to upstream 198.51.100.53: Network is unreachable",
    "{ts} INFO   hostapd[{pid5}]: wlan{w}: STA {mac} IEEE 802.11: associated (aid {aid})",
    "{ts} INFO   hostapd[{pid5}]: wlan{w}: STA {mac} WPA: pairwise key handshake completed (RSN)",
    "{ts} INFO   hostapd[{pid5}]: wlan{w}: STA {mac} IEEE 802.11: disassociated (reason 8)",
    "{ts} WARN   kernel: [{kt}] dsl0: showtime lost, SNR margin {snr} dB, attenuation {att} dB, CRC errors {crc}",
    "{ts} INFO   kernel: [{kt}] dsl0: training ({stage}), tone set {tones}",
    "{ts} INFO   kernel: [{kt}] dsl0: showtime, down {down} kbps / up {upk} kbps, SNR {snr} dB",
    "{ts} NOTICE tr069[{pid6}]: Inform sent to acs.northwind-mobile.example, event '2 PERIODIC', rc={rc}",
    "{ts} ERR    ntpd[{pid7}]: no reply from time server 0.pool.ntp.org (attempt {n})",
    "{ts} INFO   fw: DROP IN=ppp0 SRC=203.0.113.{src} DST=198.51.100.{wan} PROTO={proto} DPT={port}",
    "{ts} INFO   igmpproxy[{pid8}]: joined group 239.255.{g1}.{g2} on br-lan",
    "{ts} WARN   voip[{pid9}]: SIP REGISTER to sip.northwind-mobile.example timed out ({n}/5)",
]


def router_log(rng: random.Random, target: int = 400_000) -> str:
    t = datetime(2026, 3, 14, 5, 58, 11, 204000)
    macs = [":".join(f"{rng.randrange(256):02x}" for _ in range(6)) for _ in range(9)]
    pids = {f"pid{i}": rng.randint(300, 4000) for i in ["", "2", "3", "4", "5", "6", "7", "8", "9"]}
    kt = 81234.0
    out, size = [], 0
    while size < target:
        t += timedelta(milliseconds=rng.randint(40, 38000))
        kt += rng.uniform(0.05, 38.0)
        v = dict(pids)
        v.update(ts=t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z",
                 n=rng.randint(1, 5), wan=rng.randint(2, 254), host=rng.randint(20, 80),
                 mac=rng.choice(macs), lease=rng.choice([3600, 43200, 86400]),
                 up=rng.randint(30, 4000), w=rng.randint(0, 1), aid=rng.randint(1, 12),
                 kt=f"{kt:.6f}", snr=f"{rng.uniform(0.4, 9.8):.1f}", att=f"{rng.uniform(11, 24):.1f}",
                 crc=rng.randint(0, 9000), stage=rng.choice(["G.994.1", "G.993.2 channel discovery", "G.993.2 analysis"]),
                 tones=rng.choice(["A43", "B43", "V43"]), down=rng.randint(21000, 79000),
                 upk=rng.randint(4000, 19900), rc=rng.choice([200, 200, 204, 503]),
                 src=rng.randint(1, 254), proto=rng.choice(["TCP", "UDP"]),
                 port=rng.choice([22, 23, 445, 3389, 5060, 7547, 8080]),
                 g1=rng.randint(0, 255), g2=rng.randint(1, 254))
        line = fill(rng.choice(LOG_TEMPLATES), v)
        out.append(line)
        size += len(line) + 1
    return "\n".join(out)


def sp_huge_log(rng, s):
    log = router_log(rng)
    return script("chat", s, rng, [
        ("customer", "Hi, my broadband drops out every 20 minutes or so, it's been happening since {month}. I've restarted the router loads of times and nothing changes."),
        ("agent", "I'm sorry about the dropouts, that must be really frustrating. Could you log into the router from a browser, go to Advanced > System Log, and paste the log here? It will show me exactly what happens each time the connection drops."),
        ("customer", "Here's the full log from the router page, sorry it's long:\n\n" + log.replace("{", "(").replace("}", ")") + "\n\n(copied from Advanced > System Log)", "huge_message"),
        ("agent", "Thank you, that's really helpful. The log shows the line losing sync roughly every 20 minutes, with the SNR margin dropping below 3 dB just before each drop and then PPPoE timeouts while it retrains. That points to noise on the line rather than the router itself, so I've booked an engineer for {eta} between 8am and 1pm to test the line from the cabinet to your home."),
        ("customer", "Great, thanks. Do I need to be in?"),
        ("agent", "Yes please, the engineer will need access to the master socket. You'll get a text the evening before with a 2-hour arrival window. Thanks for your patience, {c}."),
    ], "broadband_dropouts")


def sp_unsafe(rng, s, kind):
    if kind == "violence_against_staff":
        turns = [
            ("customer", "My internet has been down for five days and every time I call I'm told 'tomorrow'. I'm done being polite."),
            ("agent", "I'm really sorry, five days without internet isn't acceptable and I understand why you're angry. Let me look at the fault history on your line right now."),
            ("customer", "If it's not fixed by tonight I'm going to come into your {city} store and smash the place up, and whoever is behind the counter is going to get hurt.", "unsafe:violence_against_staff"),
            ("agent", "I hear how frustrated you are, but I have to be clear that threats against our staff aren't acceptable, and this conversation is recorded. I do want to fix this for you. I've escalated your fault to our priority team under reference {ref}, and an engineer is booked for first thing tomorrow morning."),
            ("customer", "Fine. Tomorrow morning, and if nobody shows up I'm cancelling."),
            ("agent", "Understood. You'll get a text tonight confirming the engineer's arrival window, and I've added a credit to your account for every day you've been without service."),
        ]
        return script("chat", s, rng, turns, "unsafe")
    if kind == "self_harm":
        turns = [
            ("customer", "I've been charged a late fee again and now there's a letter saying my account is going to a debt collection agency."),
            ("agent", "I'm sorry you received that letter, {c}. Let me look at your account and see what we can do about the late fee and the outstanding balance."),
            ("customer", "Honestly I can't cope with any of this anymore. Everything is falling apart and I don't want to be alive.", "unsafe:self_harm"),
            ("agent", "I'm really sorry you're feeling this way, {c}, and I'm glad you told me. Your safety matters far more than any bill. If you're in the US, you can call or text 988 at any time to talk to someone at the Suicide & Crisis Lifeline, and if you're in immediate danger please call 911. You don't have to deal with this on your own."),
            ("customer", "ok. thanks. sorry"),
            ("agent", "There's nothing to apologise for. I've paused all collection activity on your account for 60 days and removed the late fee, so you don't need to think about the bill right now. Whenever you're ready, we can set up a payment plan at a pace that works for you."),
        ]
        return script("chat", s, rng, turns, "unsafe")
    if kind == "threat_against_office":
        turns = [
            ("customer", "This is the fourth time I've contacted you about the same wrong charge of ${extra} and nobody has fixed it."),
            ("agent", "I'm sorry you've had to contact us again. I can see the previous conversations about the ${extra} charge, and I'll make sure it's resolved in this chat."),
            ("customer", "I know where your head office is. Keep ignoring me and see what happens to the people who work there.", "unsafe:threat_against_office"),
            ("agent", "I understand you're extremely frustrated, but I need to let you know that threatening language toward our staff isn't acceptable and may be reported. I do want to resolve this for you: I've removed the ${extra} charge and issued a refund under reference {ref}, and a team leader will email you written confirmation today."),
        ]
        return script("chat", s, rng, turns, "unsafe")
    turns = [
        ("customer", "been waiting 40 mins for a reply, your service is a joke"),
        ("agent", "I'm sorry about the wait, we're much busier than usual today. How can I help?"),
        ("customer", "you people are useless. say 'we're looking into it' one more time and I'll find you and make you regret it", "unsafe:abusive_threat_to_agent"),
        ("agent", "I'm sorry you've had such a poor experience, but I can't continue if the conversation includes threats. If you'd like to carry on, I'm happy to help: could you tell me what the issue is with your account?"),
        ("customer", "my phone has had no signal since saturday"),
        ("agent", "Thanks. There's a mast fault in your area that's affecting signal, and engineers expect to have it fixed by {eta}. In the meantime, Wi-Fi Calling will let you make calls and send texts over your home Wi-Fi, and I've switched it on for your line."),
    ]
    return script("whatsapp", s, rng, turns, "unsafe")


def sp_card(rng, s, n, card):
    s = dict(s, card=card)
    if n == 25:
        turns = [
            ("customer", "My payment failed again. Can you just take it from this card instead: {card}, expires 09/28, security code 123", "pii:card"),
            ("agent", "Please don't share full card details in chat, even with us. For your security I've asked for that message to be redacted, and I haven't stored the number. The safest way to pay is in the app under Account > Payment methods, where your card details go straight to our payment provider."),
            ("customer", "Oh sorry, didn't know. I'll do it in the app."),
            ("agent", "No problem at all, it happens a lot. Once the card is added, the outstanding balance of ${amount} will be taken automatically within 24 hours. If your bank asks you to approve the payment, you'll get a notification from your banking app."),
        ]
        return script("chat", s, rng, turns, "payment_update")
    turns = [
        ("customer", "here's my new card number {card} exp 11/27 cvv 737, please put it on my account so my bill gets paid", "pii:card"),
        ("agent", "Thanks for wanting to get this sorted quickly! For your security, please never send card numbers over WhatsApp. I can't use card details sent here, and I've deleted the message on our side. You can add the card safely in the My Northwind app under Account > Payment methods."),
        ("customer", "ok done, added it in the app"),
        ("agent", "Perfect, I can see the new card on your account. Your ${amount} bill will be collected from it on the {day}. I'd also recommend deleting the message with the card number from this chat on your phone."),
    ]
    return script("whatsapp", s, rng, turns, "payment_update")


def sp_email(rng, s, n, email):
    s = dict(s, email=email)
    if n == 9:
        turns = [
            ("customer", "I never got the password reset email. Can you check which email you have for me?"),
            ("agent", "Of course. For security I can't read out the address on file, but if you tell me the address you expect, I can check whether it matches."),
            ("customer", "It should be {email}", "pii:email"),
            ("agent", "Thanks. That doesn't match what's on your account, which explains why the reset emails never arrived: we have an older address. I've sent a verification code to your mobile, and once you confirm it I'll update the email to {email} and resend the reset link.", "pii:email"),
            ("customer", "Got the code, it's 482913."),
            ("agent", "Perfect, you're verified. Your email is updated and a new reset link is on its way. It's valid for 30 minutes."),
        ]
        return script("chat", s, rng, turns, "password_reset")
    if n == 54:
        turns = [
            ("customer", "I've set up a new email account. Please send all my bills and account notifications to {email} from now on, and stop using the old one.", "pii:email"),
            ("agent", "I've updated your contact details, so from your next bill onwards, invoices and account notifications will go to the new address. We've also sent a confirmation to both the old and the new address, which is a standard security step whenever contact details change."),
        ]
        return script("email", s, rng, turns, "account_details")
    if n == 121:
        turns = [
            ("customer", "hi can you send the return label for order {order} to {email}? the app keeps crashing when I try to download it", "pii:email"),
            ("agent", "Sure, no problem! I've sent the prepaid return label for {order} to that address. It should arrive within 10 minutes. Print it and attach it to the box, then drop it at any {carrier} location."),
            ("customer", "got it thanks"),
            ("agent", "Great! Once the return is scanned, your refund will be processed within 5 working days. About the app crashing: updating to the latest version from the app store should fix it."),
        ]
        return script("whatsapp", s, rng, turns, "refund_request")
    turns = [
        ("customer", "My order confirmation for {order} went to my old work address, which I can't access any more. Could you resend it to {email}?", "pii:email"),
        ("agent", "Of course. I've resent the order confirmation and the invoice for {order} to the new address, and updated it on your account so your shipping updates go there too."),
        ("customer", "Thanks! Will the tracking link go there as well?"),
        ("agent", "Yes, the tracking link will be emailed as soon as {carrier} collects the parcel, and we'll also text it to your mobile."),
    ]
    return script("chat", s, rng, turns, "delivery_late")


def sp_phone(rng, s, n, phone):
    s = dict(s, phone=phone)
    if n == 16:
        turns = [
            ("customer", "No internet at home since last night. The router's light is flashing red."),
            ("agent", "I'm sorry about that. I've run a line test and there's a fault between the street cabinet and your home, so I've booked an engineer for {eta} between 8am and 1pm."),
            ("customer", "OK. Can the engineer call me on {phone} when they're on the way? I'll be in the garden office.", "pii:phone"),
            ("agent", "Absolutely, I've added that number to the job notes, and the engineer will call about 30 minutes before they arrive."),
        ]
        return script("chat", s, rng, turns, "broadband_outage")
    if n == 87:
        turns = [
            ("customer", "I'm currently in London on business for two weeks and my US line keeps saying 'SOS only'. Could someone please call me back on my UK work number, {phone}? I'm free after 4pm UK time.", "pii:phone"),
            ("agent", "I'm sorry you're having trouble while you're away. I've checked your line and roaming was switched off after a missed payment in {month}, which has now been cleared. I've switched roaming back on, so please restart your phone and it should connect within a few minutes.\n\nIf it doesn't, just reply to this email and one of our roaming team will call you on the number you gave us after 4pm UK time."),
            ("customer", "Restarted and it's working now. Thank you, no need to call."),
            ("agent", "That's great to hear. I've cancelled the callback. Enjoy the rest of your trip, and remember the Travel Pass is $10 a day while you're in the UK."),
        ]
        return script("email", s, rng, turns, "roaming_activation")
    turns = [
        ("customer", "hi, my upgrade order {order} says 'awaiting verification', what does that mean?"),
        ("agent", "Thanks for getting in touch! It means our credit team needs to confirm a couple of details before the phone can ship. Usually that's a quick call of around 5 minutes."),
        ("customer", "ok my number's {phone} if it's easier to call, I'm around all afternoon", "pii:phone"),
        ("agent", "Perfect, I've passed that to the verification team and someone will call you this afternoon. Once it's done, your {device} will ship the same day."),
    ]
    return script("whatsapp", s, rng, turns, "device_upgrade")


def sp_iban(rng, s, iban):
    s = dict(s, iban=iban)
    turns = [
        ("customer", "Hi, I'm owed a refund of ${amount} for the handset I returned, but the card I paid with has been closed since I moved back to the UK."),
        ("agent", "Thanks for explaining. I can see the refund for {order} failed because the card was closed. We can send it by bank transfer instead."),
        ("customer", "Great, please send it to my UK account: IBAN {iban}, account name {c} {last}.", "pii:iban"),
        ("agent", "Thank you. I've passed this to our payments team, who will email you a secure form to confirm the bank details before they send the transfer, which is a standard check for international payments. In future, please avoid sharing bank details in chat; the secure form is the safest way. The refund usually arrives 3-5 working days after you confirm."),
    ]
    return script("chat", s, rng, turns, "refund_request")


def sp_ip(rng, s, ip):
    s = dict(s, ip=ip)
    turns = [
        ("customer", "My router says it's connected and my public IP is {ip}, but no websites load on any device.", "pii:ip"),
        ("agent", "Thanks, that's useful. That address is one of ours, so the connection to our network is up, which usually means a DNS problem. Could you restart the router once more, and if that doesn't help, set the DNS servers in the router to 'Automatic'?"),
        ("customer", "It was set to some custom DNS my brother put in. Changed it to automatic and everything works."),
        ("agent", "Brilliant, that was it. Custom DNS servers sometimes stop responding, and then pages don't load even though the connection is fine. Glad it's working again!"),
    ]
    return script("chat", s, rng, turns, "broadband_outage")


def sp_api_key(rng, s):
    chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    key = "sk-test-" + "".join(rng.choice(chars) for _ in range(48))
    s = dict(s, key=key)
    turns = [
        ("customer", ("Our integration with the Northwind Business SMS API started returning 401 Unauthorized this morning. Nothing changed on our side. This is the request we send:\n\n"
                      "curl -X POST https://api.northwind-mobile.example/v2/messages \\\n"
                      "  -H \"Authorization: Bearer {key}\" \\\n"
                      "  -H \"Content-Type: application/json\" \\\n"
                      "  -d @message.json"), "secret:api_key"),
        ("agent", "Thanks for the details, that makes it easy to check. Test keys (the ones starting with sk-test-) only work against the sandbox endpoint, and since {date} the production endpoint rejects them, which is why you're getting a 401. You'll need to switch to a live key from the Business portal under Developers > API keys.\n\nAlso, because the full key is now in this chat, please revoke it in the portal and create a new one, even though it's only a test key."),
        ("customer", "Makes sense. Revoked it and created a live key, messages are going out again."),
        ("agent", "Great to hear. If you'd like, our developer support team can review your integration; just reply here and I'll set up a call."),
    ]
    return script("chat", s, rng, turns, "business_api"), key


def sp_aws_key(rng, s):
    akia = "AKIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
    b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    secret = "".join(rng.choice(b64) for _ in range(40))
    s = dict(s, akia=akia, secret=secret)
    turns = [
        ("customer", ("Our fleet of 40 IoT SIMs stopped uploading data last night. The devices log this on every attempt:\n\n"
                      "[default]\naws_access_key_id = {akia}\naws_secret_access_key = {secret}\nregion = us-east-1\n\n"
                      "upload failed: Could not connect to the endpoint URL: \"https://s3.us-east-1.amazonaws.com/\" (connect timeout)"), "secret:aws_key"),
        ("agent", "Thanks for the log. The timeout is on the network side: your SIMs are on a private APN that only allows approved destinations, and the storage endpoint moved to new address ranges this week. I've asked our IoT team to update the allow-list under reference {ref}.\n\nSeparately, the log you pasted includes your cloud access keys. I'd strongly recommend rotating them in your cloud console as soon as possible, since this chat is stored on our systems."),
        ("customer", "Good catch, rotating them now. How long for the allow-list?"),
        ("agent", "It's usually done within 2 hours. I'll message you here as soon as it's live, and your devices should resume uploading on their next retry without any changes on your side."),
    ]
    return script("chat", s, rng, turns, "iot"), akia


def sp_mojibake(rng, s):
    original = ("Hi, I redeemed a Northwind Rewards voucher for the \"Café réservation\" dinner offer in "
                "Montréal, but the restaurant says the code isn't valid.")
    broken = original.encode("utf-8").decode("latin-1")
    assert "CafÃ© rÃ©servation" in broken
    turns = [
        ("customer", broken.replace("{", "(").replace("}", ")"), "mojibake"),
        ("agent", "I'm sorry about that. I can see the voucher on your account. The partner restaurant changed its booking system last week, which is why the code wasn't recognised. I've issued a replacement code by text, and it's valid until the end of next month."),
        ("customer", "Thanks, I'll try again on Friday."),
        ("agent", "Enjoy your dinner! If there's any problem with the new code, reply here and I'll sort it straight away."),
    ]
    return script("chat", s, rng, turns, "rewards")


def sp_no_agent(rng, s, n):
    if n == 112:
        return script("chat", s, rng, [
            ("customer", "Hi, is anyone available? I need to change the delivery address for order {order} before it ships."),
            ("customer", "hello??"),
        ], "no_agent")
    conv = script("email", s, rng, [
        ("customer", "My direct debit failed this month and I've been charged a $5 late fee, even though the money was in my account. Could someone call me back about this please?"),
    ], "no_agent")
    conv["messages"].insert(0, M("system", SYSTEM_EN[1]))
    return conv


# ---------------------------------------------------------------------------
# German, Spanish and mixed-language conversations
# ---------------------------------------------------------------------------
DE_NAMES = ["Lukas", "Anna", "Jonas", "Lea", "Felix", "Sophie", "Maximilian", "Marie", "Tobias",
            "Katharina", "Jan", "Laura", "Moritz", "Johanna"]
DE_LAST = ["Müller", "Schneider", "Weber", "Becker", "Hoffmann", "Schäfer", "Koch", "Richter",
           "Wolf", "Neumann", "Krüger", "Zimmermann"]
DE_AGENTS = ["Julia", "Stefan", "Mehmet", "Sabine", "Niklas", "Carina"]
DE_MONTHS = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
             "Oktober", "November", "Dezember"]
ES_NAMES = ["Lucía", "Javier", "Carmen", "Alejandro", "Marta", "Pablo", "Elena", "Sergio",
            "Irene", "Diego", "Nerea", "Álvaro"]
ES_LAST = ["García", "Fernández", "López", "Martínez", "Sánchez", "Romero", "Navarro", "Torres",
           "Domínguez", "Gil", "Vázquez", "Ortega"]
ES_AGENTS = ["Raúl", "Nuria", "Andrés", "Beatriz", "Lorena", "Iván"]
ES_MONTHS = ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
             "septiembre", "octubre", "noviembre", "diciembre"]


def de_slots(rng):
    m, d = rng.randrange(12), rng.randint(2, 20)
    return {"name": rng.choice(DE_NAMES), "nachname": rng.choice(DE_LAST), "agent": rng.choice(DE_AGENTS),
            "agent_en": rng.choice(AGENTS), "monat": DE_MONTHS[m], "datum": f"{d}. {DE_MONTHS[m]}",
            "datum_en": f"{MONTHS[m]} {d}", "eta": f"{d + rng.randint(2, 6)}. {DE_MONTHS[m]}",
            "betrag": f"{rng.choice([19.99, 24.99, 29.99, 34.99, 39.99, 44.99]):.2f}".replace(".", ","),
            "versand": rng.choice(["4,99", "5,95", "6,90"]), "order": f"NW-{rng.randint(100000, 999999)}",
            "ref": f"NWC-{rng.randint(1000000, 9999999)}", "geraet": rng.choice(DEVICES),
            "carrier": rng.choice(["DHL", "Hermes", "DPD", "GLS"]),
            "stadt": rng.choice(["Leipzig", "Kassel", "Dortmund", "Nürnberg", "Hannover", "Erfurt"]),
            "kdnr": str(rng.randint(40000000, 49999999))}


def es_slots(rng):
    m, d = rng.randrange(12), rng.randint(2, 20)
    return {"name": rng.choice(ES_NAMES), "apellido": rng.choice(ES_LAST), "agent": rng.choice(ES_AGENTS),
            "mes": ES_MONTHS[m], "fecha": f"{d} de {ES_MONTHS[m]}", "eta": f"{d + rng.randint(2, 6)} de {ES_MONTHS[m]}",
            "importe": f"{rng.choice([17.9, 22.5, 29.9, 32.0, 38.9, 45.0]):.2f}".replace(".", ","),
            "envio": rng.choice(["3,99", "4,95", "5,50"]), "order": f"NW-{rng.randint(100000, 999999)}",
            "ref": f"NWC-{rng.randint(1000000, 9999999)}", "geraet": rng.choice(DEVICES),
            "carrier": rng.choice(["SEUR", "Correos Express", "MRW", "GLS"]),
            "ciudad": rng.choice(["Zaragoza", "Valencia", "Sevilla", "Bilbao", "Valladolid", "Murcia"]),
            "gb": str(rng.choice([22, 26, 31, 35])), "precio": rng.choice(["20", "22", "25"]),
            "hora": rng.choice(["las 18:00", "las 20:00", "las 15:00"])}


DE_SIG = "Mit freundlichen Grüßen\n{agent}\nNorthwind Mobile Kundenservice"
ES_SIG = "Un saludo,\n{agent}\nAtención al cliente de Northwind Mobile"

GERMAN_SCRIPTS = {
    23: ("chat", "billing_double_charge", [
        ("customer", "Hallo, mir wurde die Rechnung für {monat} zweimal abgebucht, jeweils {betrag} €. Können Sie das bitte prüfen?"),
        ("agent", "Hallo {name}, vielen Dank für Ihre Nachricht, mein Name ist {agent}. Ich habe mir Ihr Kundenkonto angesehen und kann die doppelte Abbuchung vom {datum} bestätigen. Das tut mir leid – die zweite Lastschrift ist durch einen technischen Fehler bei unserem Zahlungsdienstleister entstanden."),
        ("customer", "Und wann bekomme ich das Geld zurück? Mein Konto ist dadurch gerade ziemlich knapp."),
        ("agent", "Ich habe die Erstattung soeben veranlasst. Der Betrag wird innerhalb von 3 bis 5 Werktagen auf Ihr Konto zurücküberwiesen. Ihre Vorgangsnummer lautet {ref}, falls Sie später nachfragen möchten. Sollten Ihnen durch die doppelte Abbuchung Gebühren Ihrer Bank entstehen, übernehmen wir diese selbstverständlich."),
        ("customer", "Okay, danke. Passiert das nächsten Monat wieder?"),
        ("agent", "Nein, der Fehler ist inzwischen behoben. Ich habe zusätzlich einen Vermerk in Ihrem Konto hinterlegt, damit Ihre nächste Abbuchung vorab manuell geprüft wird."),
        ("customer", "Super, vielen Dank für die schnelle Hilfe!"),
        ("agent", "Sehr gerne! Ich wünsche Ihnen noch einen schönen Tag."),
    ]),
    41: ("whatsapp", "delivery_late", [
        ("customer", "Hallo, ich hab am {datum} ein {geraet} bestellt (Bestellnummer {order}), aber es ist immer noch nicht da. Laut Sendungsverfolgung liegt das Paket seit Tagen im Verteilzentrum."),
        ("agent", "Hallo {name} \U0001F44B hier ist {agent} von Northwind. Danke für die Bestellnummer! Ich habe bei {carrier} nachgefragt: Das Paket wurde leider im Verteilzentrum {stadt} falsch sortiert. Es ist inzwischen wieder auf dem richtigen Weg."),
        ("customer", "Und wann kommt es jetzt? Ich brauche das Handy dringend für die Arbeit"),
        ("agent", "Die Zustellung ist für den {eta} geplant. Falls das Paket bis dahin nicht bei Ihnen ist, schicken wir Ihnen kostenlos ein Ersatzgerät per Express. Die Versandkosten von {versand} € erstatte ich Ihnen schon jetzt."),
        ("customer", "Ok, das ist fair. Danke!"),
        ("agent", "Gern geschehen! Sie bekommen eine SMS, sobald das Paket in Zustellung ist."),
    ]),
    58: ("chat", "roaming_activation", [
        ("system", SYSTEM_DE),
        ("customer", "Guten Tag, ich fahre nächste Woche für ein paar Tage in die Schweiz. Kann ich dort mein Datenvolumen ganz normal nutzen?"),
        ("agent", "Guten Tag {name}, ich bin {agent} und helfe Ihnen gerne weiter. Die Schweiz gehört nicht zur EU, deshalb gilt dort das EU-Roaming leider nicht automatisch. Ohne Zusatzoption kostet ein Megabyte 0,49 €, das kann schnell teuer werden."),
        ("customer", "Oh, das wusste ich nicht. Gibt es dafür ein Paket?"),
        ("agent", "Ja, ich empfehle Ihnen den Travel Pass Schweiz für 4,99 € pro Tag. Damit nutzen Sie Ihr Inklusivvolumen, Ihre Minuten und SMS wie zu Hause. Berechnet wird nur an den Tagen, an denen Sie Ihr Handy in der Schweiz tatsächlich nutzen."),
        ("customer", "Klingt gut. Können Sie den bitte direkt für mich buchen?"),
        ("agent", "Erledigt! Der Travel Pass ist ab sofort für Ihre Rufnummer gebucht. Denken Sie bitte daran, in den Einstellungen Ihres Handys das Daten-Roaming einzuschalten. Gute Reise!"),
    ]),
    77: ("email", "cancel_contract", [
        ("customer", "Sehr geehrte Damen und Herren,\n\nhiermit kündige ich meinen Mobilfunkvertrag (Kundennummer {kdnr}) zum nächstmöglichen Zeitpunkt. Bitte bestätigen Sie mir den Eingang der Kündigung und das Vertragsende schriftlich.\n\nMit freundlichen Grüßen\n{name} {nachname}"),
        ("agent", "Guten Tag {name} {nachname},\n\nvielen Dank für Ihre Nachricht. Hiermit bestätigen wir den Eingang Ihrer Kündigung. Ihr Vertrag endet zum {eta}; bis dahin können Sie alle Leistungen wie gewohnt nutzen.\n\nWenn Sie Ihre Rufnummer zu einem anderen Anbieter mitnehmen möchten, beantragen Sie die Rufnummernmitnahme bitte direkt bei Ihrem neuen Anbieter. Die Portierung ist für Sie kostenlos.\n\n" + DE_SIG),
        ("customer", "Guten Tag,\n\nvielen Dank für die schnelle Bestätigung. Eine Frage noch: Bekomme ich für den letzten Monat eine anteilige Rechnung?\n\nViele Grüße\n{name} {nachname}"),
        ("agent", "Guten Tag {name} {nachname},\n\nja, Ihre letzte Rechnung wird nur anteilig bis zum Vertragsende berechnet. Sie erhalten sie etwa eine Woche nach dem {eta} per E-Mail.\n\nWir bedauern, dass Sie uns verlassen, und wünschen Ihnen alles Gute.\n\n" + DE_SIG),
    ]),
    102: ("chat", "esim_setup", [
        ("customer", "Hallo! Ich habe ein neues {geraet} und möchte meine SIM-Karte in eine eSIM umwandeln. Wie funktioniert das?"),
        ("agent", "Hallo {name}, schön, dass Sie sich melden! Ich bin {agent}. Der Wechsel auf eine eSIM ist kostenlos. Ich schicke Ihnen gleich einen QR-Code an die bei uns hinterlegte E-Mail-Adresse. Wichtig: Ihr Handy sollte beim Einrichten mit dem WLAN verbunden sein."),
        ("customer", "Die Mail ist da. Wo muss ich den Code scannen?"),
        ("agent", "Gehen Sie auf Ihrem Handy zu Einstellungen > Mobilfunk > eSIM hinzufügen und wählen Sie „QR-Code verwenden“. Dann einfach den Code scannen, die Installation dauert etwa eine Minute. Ihre alte SIM-Karte wird anschließend automatisch deaktiviert."),
        ("customer", "Hat geklappt, aber ich habe noch keinen Empfang."),
        ("agent", "Das ist in den ersten Minuten normal. Starten Sie das Handy bitte einmal neu, dann sollte es sich ins Netz einbuchen. Falls nach zehn Minuten immer noch „Kein Netz“ angezeigt wird, melden Sie sich gerne noch einmal."),
        ("customer", "Jetzt geht's, danke!"),
        ("agent", "Wunderbar! Dann viel Spaß mit dem neuen Handy."),
    ]),
    131: ("chat", "broadband_outage", [
        ("customer", "Hallo, bei uns ist seit gestern Abend das Internet komplett weg. Der Router blinkt rot und ein Neustart hat nichts gebracht."),
        ("agent", "Guten Tag {name}, das tut mir leid. Mein Name ist {agent}. Ich habe gerade eine Leitungsprüfung durchgeführt: Zwischen dem Verteilerkasten und Ihrem Anschluss liegt eine Störung vor, die wir leider nicht aus der Ferne beheben können."),
        ("customer", "Und was heißt das jetzt? Ich arbeite im Homeoffice."),
        ("agent", "Ich habe einen Techniker für Sie beauftragt. Der nächste freie Termin ist am {eta} zwischen 8 und 12 Uhr. Damit Sie bis dahin arbeiten können, habe ich Ihnen kostenlos 50 GB zusätzliches Datenvolumen für Ihr Handy freigeschaltet."),
        ("customer", "Danke. Kann der Techniker mich vorher anrufen? Meine Nummer ist {phone}.", "pii:phone"),
        ("agent", "Natürlich, ich habe die Nummer im Auftrag hinterlegt. Der Techniker meldet sich etwa 30 Minuten vor seiner Ankunft telefonisch bei Ihnen."),
    ]),
    164: ("chat", "payment_update", [
        ("customer", "Hallo, ich habe ein neues Girokonto und möchte, dass die Rechnungen ab sofort von dort abgebucht werden."),
        ("agent", "Hallo {name}, gerne helfe ich Ihnen dabei. Mein Name ist {agent}. Am sichersten ändern Sie die Bankverbindung selbst in der App unter Konto > Zahlungsarten. Soll ich das für Sie übernehmen?"),
        ("customer", "Ja bitte, die App stürzt bei mir immer ab. Die neue IBAN ist {iban}, Kontoinhaber {name} {nachname}.", "pii:iban"),
        ("agent", "Vielen Dank. Ich habe die neue Bankverbindung hinterlegt, das SEPA-Lastschriftmandat schicke ich Ihnen per E-Mail zur Bestätigung. Die nächste Abbuchung erfolgt bereits vom neuen Konto. Bitte teilen Sie Bankdaten aus Sicherheitsgründen künftig nur über die App oder das Kundenportal mit."),
        ("customer", "Alles klar, danke für den Hinweis."),
        ("agent", "Gerne! Und wegen der abstürzenden App: Ein Update auf die neueste Version behebt das Problem in den meisten Fällen."),
    ]),
    197: ("whatsapp", "password_reset", [
        ("customer", "hallo, ich komme nicht mehr in die Northwind App. passwort vergessen und die mail zum zurücksetzen kommt nicht an"),
        ("agent", "Hallo {name}, hier ist {agent} vom Northwind Kundenservice. Schauen Sie bitte einmal in Ihrem Spam-Ordner nach, die E-Mail hat den Betreff „Passwort zurücksetzen“ und landet manchmal dort."),
        ("customer", "da ist nichts"),
        ("agent", "Dann schicke ich Ihnen den Code stattdessen per SMS an Ihre Handynummer. Er ist 10 Minuten gültig. Geben Sie ihn in der App unter „Passwort vergessen“ ein und vergeben Sie danach ein neues Passwort."),
        ("customer", "hat funktioniert \U0001F44D"),
        ("agent", "Prima! Kleiner Tipp: Unter Einstellungen > Sicherheit können Sie die Anmeldung per Fingerabdruck aktivieren, dann brauchen Sie das Passwort seltener."),
    ]),
}

SPANISH_SCRIPTS = {
    30: ("chat", "billing_double_charge", [
        ("customer", "Hola, me habéis cobrado dos veces la factura de {mes}, {importe} € cada vez. ¿Podéis revisarlo, por favor?"),
        ("agent", "Hola {name}, soy {agent}, de Northwind Mobile. Gracias por avisarnos. He revisado tu cuenta y, efectivamente, hay dos cargos de {importe} € del {fecha}. Lo siento mucho: el segundo cargo se debe a un error técnico de nuestra pasarela de pago."),
        ("customer", "¿Y cuándo me devolvéis el dinero?"),
        ("agent", "Ya he tramitado la devolución. Deberías verla en tu cuenta en un plazo de 3 a 5 días hábiles, según tu banco. El número de referencia es {ref}, por si necesitas consultarlo más adelante."),
        ("customer", "Vale, muchas gracias por la rapidez."),
        ("agent", "¡De nada! Si tienes cualquier otra duda, aquí estamos. Que tengas un buen día."),
    ]),
    49: ("whatsapp", "delivery_late", [
        ("customer", "buenas, hice un pedido el {fecha} (número {order}) y todavía no ha llegado. en el seguimiento pone 'en reparto' desde hace tres días"),
        ("agent", "¡Hola {name}! Soy {agent}, del equipo de Northwind. Siento mucho el retraso. He consultado con {carrier} y el paquete se quedó en su centro de {ciudad} por un error de clasificación. Ya está de nuevo en ruta."),
        ("customer", "¿y cuándo me llega? lo necesito para el viernes"),
        ("agent", "La entrega está prevista para el {eta}. Si no lo recibes ese día, te enviamos otro por mensajería urgente sin coste. Además, te he devuelto los {envio} € de gastos de envío por las molestias."),
        ("customer", "genial, gracias \U0001F64F"),
        ("agent", "¡A ti! Te llegará un SMS cuando el repartidor esté de camino."),
    ]),
    66: ("chat", "roaming_activation", [
        ("system", SYSTEM_ES),
        ("customer", "Hola, me voy a Marruecos dos semanas el mes que viene. ¿Cuánto me costaría usar datos allí?"),
        ("agent", "Hola {name}, soy {agent}. Marruecos no está incluido en el roaming de la UE, así que sin ningún bono los datos se cobran a 2 € por MB. Te recomiendo el Bono Viajero: 6 € al día, y solo se cobra los días que uses el móvil allí."),
        ("customer", "¿Y con ese bono puedo usar los gigas de mi tarifa?"),
        ("agent", "Sí, con el Bono Viajero usas tus minutos, SMS y datos igual que en España, con un límite de 2 GB al día. Si quieres, te lo activo ahora mismo y empieza a contar cuando llegues."),
        ("customer", "Sí, actívalo por favor."),
        ("agent", "¡Hecho! Ya lo tienes activado. Acuérdate de activar la itinerancia de datos en los ajustes del móvil cuando aterrices. ¡Buen viaje!"),
    ]),
    89: ("email", "number_port", [
        ("customer", "Buenos días:\n\nQuiero traer mi número de otra compañía a Northwind. ¿Qué datos necesito y cuánto tarda la portabilidad?\n\nUn saludo,\n{name} {apellido}"),
        ("agent", "Hola, {name}:\n\nGracias por elegir Northwind Mobile. Para la portabilidad solo necesitamos tu DNI o NIE y el número que quieres traer; nosotros lo gestionamos todo con tu compañía actual, así que no tienes que darte de baja allí.\n\nEl cambio se realiza normalmente en un día laborable. La noche del cambio puedes quedarte sin servicio unas horas, y después solo tienes que poner la nueva tarjeta SIM.\n\n" + ES_SIG),
        ("customer", "Hola, {agent}:\n\nPerfecto, muchas gracias. ¿Pierdo el saldo que tengo en la otra compañía?\n\nSaludos,\n{name}"),
        ("agent", "Hola, {name}:\n\nEl saldo de una tarjeta prepago no se puede traspasar entre compañías, así que te recomiendo gastarlo antes de la portabilidad o pedir su devolución a tu compañía actual, que está obligada a reembolsarlo.\n\n" + ES_SIG),
    ]),
    118: ("chat", "plan_upgrade", [
        ("customer", "Hola, siempre me quedo sin datos a mitad de mes. ¿Qué tarifa me recomendáis?"),
        ("agent", "Hola {name}, soy {agent} y te ayudo encantado. He mirado tu consumo de los últimos tres meses y gastas unos {gb} GB al mes, pero tu tarifa actual incluye 15 GB. La tarifa Flex 60 te daría 60 GB por {precio} € al mes."),
        ("customer", "¿Tengo permanencia si cambio?"),
        ("agent", "No, todas nuestras tarifas sin terminal son sin permanencia. Si cambias ahora, el nuevo precio se aplica de forma proporcional en la próxima factura y los datos nuevos los tienes disponibles al momento."),
        ("customer", "Pues cámbiamela, por favor."),
        ("agent", "¡Listo! Ya tienes la Flex 60 activa. Te he enviado un correo con el resumen del cambio."),
    ]),
    143: ("whatsapp", "broadband_outage", [
        ("customer", "hola, no tengo internet en casa desde esta mañana. la luz del router está en rojo"),
        ("agent", "Hola {name}, soy {agent}, de Northwind. Siento las molestias. Hay una avería en la central de tu zona y los técnicos ya están trabajando en ella. La previsión es que quede resuelta hoy antes de {hora}."),
        ("customer", "vaya... teletrabajo y lo necesito"),
        ("agent", "Lo entiendo perfectamente. Te he añadido 30 GB extra gratis en tu línea móvil para que puedas compartir datos desde el móvil mientras tanto. Además, se te aplicará automáticamente un descuento en la próxima factura por el tiempo sin servicio."),
        ("customer", "ok gracias"),
        ("agent", "Gracias a ti por la paciencia. Te avisaremos por SMS en cuanto se restablezca el servicio."),
    ]),
    176: ("chat", "refund_request", [
        ("customer", "Hola, devolví unos auriculares hace dos semanas (pedido {order}) y todavía no me ha llegado el reembolso."),
        ("agent", "Hola {name}, soy {agent}. He revisado la devolución: llegó a nuestro almacén el {fecha} y ya ha pasado la revisión. El reembolso de {importe} € se emitió ayer a tu tarjeta."),
        ("customer", "¿Cuánto tarda en aparecer en la cuenta?"),
        ("agent", "Normalmente entre 3 y 5 días hábiles, dependiendo del banco. Si pasado ese plazo no lo ves, escríbenos indicando la referencia {ref} y lo revisamos con el departamento de pagos."),
        ("customer", "Perfecto, gracias."),
        ("agent", "¡Gracias a ti, {name}! Que vaya bien."),
    ]),
    209: ("email", "warranty_repair", [
        ("customer", "Hola:\n\nMi {geraet} empezó a fallar la semana pasada: la pantalla parpadea y a veces se queda en negro. Lo compré en vuestra tienda online hace ocho meses. ¿Entra en la garantía?\n\nGracias,\n{name} {apellido}"),
        ("agent", "Hola, {name}:\n\nSentimos mucho el problema con tu {geraet}. Como lo compraste hace menos de tres años, está cubierto por la garantía legal y la reparación no tendrá ningún coste.\n\nTe hemos enviado por correo una etiqueta de envío prepagada. Solo tienes que empaquetar el móvil, sin la tarjeta SIM, y dejarlo en cualquier oficina de {carrier}. La reparación tarda entre 7 y 10 días laborables.\n\n" + ES_SIG),
        ("customer", "Hola:\n\n¿Me podéis dejar un móvil de sustitución mientras tanto? Lo necesito para trabajar.\n\nGracias,\n{name}"),
        ("agent", "Hola, {name}:\n\nClaro que sí. Te enviamos un móvil de préstamo junto con el kit de envío; cuando recibas tu {geraet} reparado, solo tienes que devolvernos el de préstamo en la misma caja.\n\n" + ES_SIG),
    ]),
}

MIXED_SCRIPTS = {
    94: ("chat", "bill_higher", [
        ("customer", "Hallo, warum ist meine Rechnung diesen Monat so hoch? Normalerweise zahle ich {betrag} €, jetzt ist es fast doppelt so viel."),
        ("agent", "Hi {name}, thanks for reaching out, my name is {agent_en}. I've looked at your bill, and the extra amount comes from data you used while roaming in Switzerland on {datum_en}. Switzerland isn't covered by EU roaming, so standard rates applied."),
        ("customer", "Das wusste ich nicht. Können Sie mir da irgendwie entgegenkommen?"),
        ("agent", "I understand. As a one-off gesture, I've credited 50% of the roaming charges to your account, and you'll see it on your next bill. For future trips, I'd recommend adding the Switzerland Travel Pass in the app before you go."),
        ("customer", "Okay, danke."),
        ("agent", "You're welcome! Have a nice day."),
    ]),
    185: ("whatsapp", "lost_phone", [
        ("customer", "Hallo, ich habe mein Handy verloren und brauche eine neue SIM-Karte. Kann ich meine Nummer behalten?"),
        ("agent", "Hi {name}, I'm sorry to hear that! Yes, you'll keep your number. I've blocked the old SIM so nobody can use it, and a replacement SIM is on its way to your address. It should arrive in 1-2 working days."),
        ("customer", "Super, danke. Muss ich die neue Karte irgendwie aktivieren?"),
        ("agent", "Once it arrives, just open the Northwind app and go to Account > Activate SIM, then follow the steps. Your number will move over to the new SIM within about 10 minutes."),
    ]),
}


def build_foreign(rng, n, table, slots_fn, extra=None):
    ch, scen, turns = table[n]
    s = slots_fn(rng)
    if extra:
        s.update(extra)
    msgs = [M(sp, fill(t, s), *tags) for sp, t, *tags in turns]
    return {"channel": ch, "messages": msgs, "scenario": scen, "slots": s}


# ---------------------------------------------------------------------------
# faq_pairs.parquet content
# ---------------------------------------------------------------------------
FAQ_SYSTEM = [
    None, None, None,
    "You are Northwind Mobile's help-centre assistant. Answer using the context when it is provided; if the context doesn't contain the answer, say so and point the customer to live chat.",
    SYSTEM_EN[0],
    SYSTEM_EN[2],
]


def ctx_account(s, rng):
    plan, price, gb = rng.choice(PLANS[:4])
    used = round(rng.uniform(0.3, 0.97) * gb, 1)
    s.update(cplan=plan, cprice=money(price), cgb=str(gb), used=str(used), left=f"{gb - used:.1f}")
    return fill("Customer: {c} {last}\nPlan: {cplan} (${cprice}/month)\nData used this cycle: {used} GB of {cgb} GB\n"
                "Bill date: {day} of each month\nAutopay: " + rng.choice(["on (card ending {last4})", "off"]) +
                "\nRoaming: " + rng.choice(["enabled, no add-ons", "enabled, Travel Pass active", "disabled"]), s)


ORDER_STATUSES = ["processing", "shipped", "out for delivery", "delivered", "delayed at courier depot"]


def ctx_order(s, rng, statuses=ORDER_STATUSES):
    st = rng.choice(statuses)
    s.update(status=st, tracking=f"{rng.randint(10**11, 10**12 - 1)}")
    lines = ["Order: {order}", "Placed: {date}", "Items: {device} ({color}), USB-C cable",
             "Status: {status}"]
    if st != "processing":
        lines += ["Carrier: {carrier}", "Tracking number: {tracking}"]
    lines.append("Estimated delivery: {eta}" if st != "delivered" else "Delivered: {eta}, left with neighbour")
    return fill("\n".join(lines), s)


def ctx_return(s, rng):
    s["rstate"] = rng.choice(["refund issued", "inspection pending", "refund issued"])
    lines = ["Return for order {order}", "Item: {device}", "Return received: {date}", "Inspection: " +
             ("passed" if s["rstate"] == "refund issued" else "pending"),
             "Refund: " + ("${amount} issued on {eta} to card ending {last4}" if s["rstate"] == "refund issued" else "not yet issued")]
    return fill("\n".join(lines), s)


def ctx_line(s, rng):
    s["fault"] = rng.choice([True, False])
    return fill("Service: Northwind Fibre 500\nRouter: NW-Hub 3\nLine test ({date}): " +
                ("FAIL - no sync from cabinet" if s["fault"] else "PASS - synced at 487 Mbps") +
                "\nOpen incidents in area: " + ("INC-{last4}, exchange fault, ETA {time} today" if s["fault"] else "none"), s)


def order_answer(s):
    st = s["status"]
    if st == "processing":
        return fill("Your order {order} is still being prepared at our warehouse, so it hasn't shipped yet. It's due to arrive by {eta}, and you'll get a text with tracking as soon as it's handed to the courier.", s)
    if st == "shipped":
        return fill("Good news: order {order} has shipped with {carrier} (tracking number {tracking}) and is expected on {eta}. You can follow it on the {carrier} website or in the Orders section of the app.", s)
    if st == "out for delivery":
        return fill("Your order {order} is out for delivery with {carrier} today. Someone may need to sign for it, so if you're not home the driver will leave a card with redelivery options.", s)
    if st == "delivered":
        return fill("Order {order} was delivered on {eta} and left with a neighbour, according to {carrier}. If you can't find it, let us know within 48 hours and we'll open an investigation.", s)
    return fill("Order {order} is held up at the {carrier} depot, so it will be a little late. We've asked {carrier} to prioritise it; if it hasn't arrived two days after {eta}, contact us and we'll send a replacement or refund you.", s)


FAQ = [
    {"p": "Billing & Payments", "q": ["How do I change the date my bill is paid?", "Can I move my payment date to later in the month?",
                                     "My payday is at the end of the month. Can my bill come out then instead?"],
         "a": ["You can change your payment date once every 6 months in the My Northwind app under Bills > Payment date. Pick any day between the 1st and the 28th; the change applies from your next bill, and you may see a one-off pro-rated charge for the days in between.",
            "Go to Bills > Payment date in the app and choose a new day between the 1st and 28th. If you'd rather not use the app, our support team can change it for you in chat. The first bill after the change may be slightly higher or lower because it covers a partial month."]},
    {"p": "Billing & Payments", "q": ["Why is my first bill higher than my monthly price?", "I've just joined and my first bill is more than I expected. Why?"],
         "a": ["Your first bill usually covers two periods: the part-month from the day you joined until your first bill date, plus the upcoming month in advance. From your second bill onwards you'll just pay your normal monthly price.",
            "First bills are often higher because they include a pro-rated charge for the days between your start date and your bill date, as well as the next full month. Nothing extra has been added, and your next bill will be your standard amount."]},
    {"p": "Billing & Payments", "q": ["How can I see which numbers I called last month?", "Can I download an itemised bill?", "Where do I find a breakdown of my calls and texts?"],
         "a": ["Itemised bills are free. In the My Northwind app, open Bills, choose the month and tap 'Itemised usage'. You can export the list as a CSV file if you need it for your records.",
            "Open the Bills section of the app or website and select the bill you need. The 'Itemised usage' tab lists every call, text and data session, and you can download it as a PDF or spreadsheet."]},
    {"p": "Billing & Payments", "q": ["What payment methods do you accept?", "Can I pay my bill with PayPal?"],
         "a": ["You can pay by debit or credit card (Visa, Mastercard and American Express), by direct debit from a US bank account, or with PayPal. Autopay is the easiest option, as your bill is paid automatically on your bill date.",
            "We accept cards, PayPal and bank direct debit. To switch your payment method, go to Account > Payment methods in the app, add the new method and set it as your default."]},
    {"p": "Billing & Payments", "q": ["Is there a fee if I pay my bill late?", "What happens if I miss a payment?"],
         "a": ["If a payment fails, we'll retry it after 3 days and send you a reminder. A $5 late payment fee is added if the bill is still unpaid 14 days after the due date, and services may be restricted after 30 days.",
            "Missing one payment won't cut you off straight away. We send reminders by text and email, add a $5 late fee after 14 days, and only restrict outgoing calls and data after 30 days. If you're struggling to pay, contact us and we can set up a payment plan."]},
    {"p": "Mobile Plans", "ctx": ctx_account, "q": ["How much data do I have left this month?", "Am I close to my data limit?", "How many GB have I used so far?"],
         "a": ["You've used {used} GB of your {cgb} GB allowance on the {cplan} plan, so you have about {left} GB left until your allowance resets on the {day}. You can check this any time on the home screen of the My Northwind app.",
            "According to your account, you have roughly {left} GB remaining out of {cgb} GB this cycle. Your allowance renews on the {day} of the month. If you think you'll run out before then, you can add a data booster in the app."]},
    {"p": "Mobile Plans", "q": ["What happens when I run out of data?", "Will I be charged extra if I go over my data allowance?"],
         "a": ["When you reach your allowance, your data pauses and we send you a text, so you're never charged without agreeing to it. You can buy a 5 GB booster for $10 in the app, or wait until your allowance resets on your bill date.",
            "You won't be charged automatically. Once your data runs out, mobile data stops until you add a booster or your allowance renews. Calls and texts keep working as normal."]},
    {"p": "Mobile Plans", "q": ["Does unused data roll over to the next month?", "If I don't use all my data, do I lose it?"],
         "a": ["On Flex plans, up to 5 GB of unused data rolls over into the next month and is used before your new allowance. Rolled-over data expires after one month.",
            "Part of it does. Flex plans carry up to 5 GB of unused data into the following month; anything above that expires on your bill date. Unlimited plans don't need rollover."]},
    {"p": "Mobile Plans", "q": ["How do I add a line for my son?", "Can I add another SIM to my account?", "Is there a discount for adding family members?"],
         "a": ["You can add up to 5 lines to one account in the app under Plans > Add a line. Each extra line gets 20% off its monthly price, and all lines appear on a single bill.",
            "Adding a line takes a couple of minutes in the app: choose a plan for the new line, and we'll post the SIM or send an eSIM straight away. Every additional line on the same account gets a 20% multi-line discount."]},
    {"p": "Mobile Plans", "q": ["If I downgrade my plan, when does it take effect?", "Can I switch to a cheaper plan straight away?"],
         "a": ["Upgrades apply immediately, but downgrades take effect from your next bill date, so you keep your current allowance until the end of this cycle.",
            "A move to a cheaper plan starts on your next bill date. That way you don't lose anything you've already paid for this month, and your new, lower price appears on the following bill."]},
    {"p": "Roaming", "ctx": ctx_account, "q": ["How much does it cost to use my phone in {country}?", "Will my plan work in {country}?", "I'm going to {country} next month. What do I need to do?"],
         "a": ["{country} isn't included in your plan, so we recommend adding a Travel Pass before you go. It costs $10 for each day you use your phone there and lets you use your normal allowance. Without it, data costs $2 per MB.",
            "Your line can roam in {country}, but usage is charged unless you have a Travel Pass. The pass is $10 per day of use and covers your usual calls, texts and data. You can add it in the app under Plans > Add-ons."]},
    {"p": "Roaming", "q": ["How does the Travel Pass work?", "Am I charged for the Travel Pass if I don't use my phone that day?", "Is the Travel Pass charged per day or per trip?"],
         "a": ["The Travel Pass costs $10 per day, but you're only charged on days you actually make a call, send a text or use data abroad. Each day runs for 24 hours from your first use, and you use your normal plan allowance.",
            "Once it's on your line, the Travel Pass activates automatically the first time you use your phone abroad each day. If you keep your phone in airplane mode or only use Wi-Fi, there's no charge that day."]},
    {"p": "Roaming", "q": ["What is the roaming spending cap?", "Can I limit how much I spend abroad?"],
         "a": ["Every line has a $50 roaming cap by default. We text you when you reach 80% and pause roaming charges at $50 until you reply to raise the limit. You can change the cap in the app under Settings > Spend caps.",
            "The roaming cap stops usage once your charges abroad reach the limit you set, which is $50 unless you change it. It doesn't apply to the daily Travel Pass fee itself, only to usage outside the pass."]},
    {"p": "Devices & eSIM", "q": ["How do I set up eSIM on my {device}?", "Does the {device} support eSIM?", "Can I use an eSIM with my {device}?"],
         "a": ["The {device} supports eSIM. Request an eSIM in the app under SIM > Switch to eSIM, and we'll email a QR code. Connect the phone to Wi-Fi, open the mobile network settings, choose 'Add eSIM' and scan the code.",
            "The {device} works with eSIM. Once you've requested one, you'll get a QR code by email; scan it from your phone's SIM settings while on Wi-Fi. Your physical SIM stops working as soon as the eSIM is active."]},
    {"p": "Devices & eSIM", "q": ["How do I unlock my phone to use another network's SIM?", "Is my phone locked to Northwind?"],
         "a": ["Phones bought outright from Northwind are never locked. Phones on a device plan are unlocked automatically once 60 days have passed since purchase and the account is in good standing; you can check the status in the app under Devices.",
            "We unlock devices for free. If you've had the phone for more than 60 days and your account is up to date, request an unlock in the app under Devices > Unlock, and it's usually processed within 2 working days."]},
    {"p": "Devices & eSIM", "q": ["How does trade-in work?", "What will I get for trading in my old phone?"],
         "a": ["Get a quote in the app under Devices > Trade in by answering a few questions about your phone's condition. When you order a new phone, we'll send a free trade-in pack, and the credit is applied to your account once we've checked the device.",
            "Trade-in values depend on the model and condition. You'll see a guaranteed quote before you send anything, and if the phone matches the description you gave, the credit appears on your bill within 10 days of us receiving it."]},
    {"p": "Devices & eSIM", "q": ["How do I claim on my phone insurance?", "My phone is broken. Does Northwind Protect cover it?"],
         "a": ["If you have Northwind Protect, you can make a claim in the app under Devices > Insurance > Make a claim. You'll need to describe what happened, and for theft a police reference number. The excess depends on your phone, usually between $49 and $125.",
            "Northwind Protect covers accidental damage, breakdown out of warranty, loss and theft. Start a claim in the app; most accidental damage claims are approved the same day, and a replacement or repair is arranged once the excess is paid."]},
    {"p": "Devices & eSIM", "q": ["My phone is faulty. Is it covered by the warranty?", "How long is the warranty on phones bought from Northwind?"],
         "a": ["All phones from Northwind come with a 24-month manufacturer warranty covering faults that aren't caused by damage. To book a free repair, go to Devices > Get help in the app, or visit one of our stores.",
            "Faults within 24 months of purchase are covered by the warranty, so the repair is free. Accidental damage such as a cracked screen isn't covered by the warranty, but it may be covered if you have Northwind Protect."]},
    {"p": "Online Store", "ctx": ctx_order, "q": ["Where is my order?", "When will my order arrive?", "Has my order been shipped yet?", "Can you check my order status?"],
         "a": [order_answer]},
    {"p": "Online Store", "q": ["What is your return policy?", "Can I return a phone I've already opened?", "How long do I have to return something?"],
         "a": ["You can return most items within 30 days of delivery for a full refund, even if you've opened the box, as long as the item is in good condition with all accessories. Start a return in the app under Orders > Return an item, and we'll email a prepaid label.",
            "Returns are free within 30 days. Opened phones can be returned as long as they aren't damaged, and you've signed out of your accounts so the device isn't locked. Once we receive the item, refunds are issued within 5 working days."]},
    {"p": "Online Store", "ctx": ctx_return, "q": ["When will I get my refund?", "Has my refund been processed?", "I returned my order. Where's my money?"],
         "a": [lambda s: fill("We issued your refund of ${amount} on {eta} to the card ending {last4}. Card refunds usually take 3-5 working days to appear, depending on your bank." if s["rstate"] == "refund issued" else
                      "We've received your return for order {order}, but it's still waiting for inspection. Once it passes, the refund is issued within 2 working days and you'll get an email confirmation.", s)]},
    {"p": "Online Store", "ctx": lambda s, r: ctx_order(s, r, ["processing", "shipped"]), "q": ["Can I change the delivery address on my order?", "I've moved. Can my order go to a different address?"],
         "a": [lambda s: fill("Yes, because order {order} hasn't shipped yet, you can change the address in the app under Orders > Edit delivery. Changes are possible until the order is handed to the courier." if s["status"] == "processing" else
                      "Order {order} has already shipped with {carrier}, so we can't change the address ourselves. You can ask {carrier} to redirect it using tracking number {tracking}, or choose a pickup point on their website.", s)]},
    {"p": "Online Store", "ctx": lambda s, r: ctx_order(s, r, ["processing", "shipped", "delivered"]), "q": ["Can I cancel my order?", "I ordered the wrong colour. Can I cancel?"],
         "a": [lambda s: fill("Order {order} is still being processed, so you can cancel it in the app under Orders > Cancel. You'll get a full refund within 3 working days." if s["status"] == "processing" else
                      "Order {order} has already left our warehouse, so it can't be cancelled. Once it arrives, you can return it within 30 days for a full refund using the prepaid label in the app.", s)]},
    {"p": "Online Store", "q": ["Do you price match?", "I found the {device} cheaper elsewhere. Will you match the price?"],
         "a": ["We match the price of major US retailers on identical, in-stock phones bought outright. Contact us within 14 days of your order with a link to the offer, and we'll refund the difference.",
            "Yes, within 14 days of buying. If a major retailer sells the same phone, in the same colour and storage size, for less, send us the link in chat and we'll refund the difference to your original payment method."]},
    {"p": "Home Broadband", "q": ["What do the lights on my router mean?", "My router light is orange. What does that mean?", "Why is the light on my NW-Hub flashing red?"],
         "a": ["On the NW-Hub, a solid white light means you're connected. Flashing orange means the hub is starting up or updating, and solid orange means it can't connect to the line. Red means there's a problem with the connection: restart the hub, and if it stays red, contact us so we can run a line test.",
            "White is good: the hub is online. Orange means it's still connecting, which can take up to 10 minutes after a restart. Red means no connection. Check the cables, restart the hub, and if it's still red after 10 minutes, there may be a fault we need to fix."]},
    {"p": "Home Broadband", "q": ["Why is my broadband slower than advertised?", "I'm paying for 500 Mbps but only getting 80. Why?"],
         "a": ["Advertised speeds are measured over a wired connection. Wi-Fi is often much slower, especially through walls or far from the hub. Try a speed test with a cable plugged into the hub; if that's also slow, contact us and we'll check your line.",
            "The most common reasons are Wi-Fi interference, older devices that can't reach full speed, and busy times in the evening. If speeds are below your guaranteed minimum on a wired connection for three days, you can ask us to fix it or leave without a fee."]},
    {"p": "Home Broadband", "q": ["I'm moving house. Can I take my broadband with me?", "How do I move my broadband to a new address?"],
         "a": ["Tell us your moving date and new address at least two weeks ahead, in the app under Broadband > Moving home. We'll check availability, book any engineer visit needed, and your contract carries on as normal.",
            "You can move your broadband without starting a new contract if we're available at the new address. Start a home move in the app and bring your NW-Hub with you; there's no moving fee."]},
    {"p": "Home Broadband", "q": ["How do I change my Wi-Fi name and password?", "Can I change my Wi-Fi password?"],
         "a": ["Open the Northwind Home app, tap your hub and go to Wi-Fi settings, where you can change both the network name and the password. Devices will need to reconnect with the new password afterwards.",
            "Connect to your hub's Wi-Fi and sign in to the hub settings using the admin password on the sticker on the back of the hub. Go to Wi-Fi > Security to set a new name and password."]},
    {"p": "Home Broadband", "ctx": ctx_line, "q": ["Is there an outage in my area?", "My internet isn't working. Is it a known problem?", "Why is my broadband down?"],
         "a": [lambda s: fill("There's a known fault at your local exchange (incident INC-{last4}), and your line test is failing because of it. Engineers expect to fix it by {time} today; you don't need to do anything, and the connection will come back automatically." if s["fault"] else
                      "There are no known issues in your area, and your line test on {date} passed, so the fault is most likely inside your home. Please restart your NW-Hub and check the cable between the wall socket and the hub. If that doesn't help, contact us and we'll troubleshoot with you.", s)]},
    {"p": "Account", "q": ["How do I reset my My Northwind password?", "I forgot my password. What do I do?"],
         "a": ["Tap 'Forgot password' on the sign-in screen and enter your mobile number. We'll text you a 6-digit code that's valid for 10 minutes; enter it and choose a new password.",
            "On the sign-in page, choose 'Forgot password'. You'll get a reset link by email or a code by text. If neither arrives, check your spam folder or contact us in chat and we can verify you another way."]},
    {"p": "Account", "q": ["How do I transfer my account to someone else?", "Can I move my phone number to my daughter's name?"],
         "a": ["Both people need to agree to a change of ownership. The current account holder starts the request in the app under Account > Transfer ownership, and the new owner completes a short credit check. The number, plan and any device plan move across together.",
            "This is done with a transfer of ownership. The new account holder must be 18 or over and pass a credit check. Start the request from the current account; it usually completes within 2 working days."]},
    {"p": "Account", "q": ["How do I get my port-out PIN to switch providers?", "I'm leaving Northwind. How do I keep my number?"],
         "a": ["You can generate a port-out PIN in the app under Account > Number transfer. Give the PIN and your account number to your new provider, and they'll handle the rest. Your Northwind plan closes automatically once the number moves.",
            "Request a port-out PIN in the app or by texting PIN to 7678. It's valid for 30 days. Your new provider uses it to move your number, usually within one working day."]},
    {"p": "Account", "q": ["How do I bring my number from another network?", "Can I keep my old number when I join Northwind?"],
         "a": ["Ask your current provider for a port-out PIN and your account number, then enter them in the app under Account > Transfer my number. Most transfers complete within one working day.",
            "You can keep your number. Start the transfer when you activate your Northwind SIM, using the PIN from your old provider. You'll have a temporary number until the transfer completes, usually the next working day."]},
    {"p": "Mobile Plans", "q": ["How do I set up voicemail?", "How do I change my voicemail greeting?"],
         "a": ["Dial 123 from your Northwind phone and follow the prompts to record a greeting and set a PIN. To change the greeting later, dial 123, press 3 for settings and then 1 for greetings.",
            "Voicemail is switched on by default. Call 123 to set it up; you'll be asked to choose a 4-6 digit PIN and record your name. Calls go to voicemail after 20 seconds unless you change the ring time."]},
    {"p": "Mobile Plans", "q": ["What is Wi-Fi Calling and how do I turn it on?", "Can I make calls over Wi-Fi when I have no signal?"],
         "a": ["Wi-Fi Calling lets you call and text over any Wi-Fi network when mobile signal is weak. It's free and uses your normal plan minutes. Turn it on in your phone's settings under Phone > Wi-Fi Calling (iPhone) or Network & internet > Calls & SMS (Android).",
            "Wi-Fi Calling is included on every Northwind plan at no extra cost. Once it's switched on in your phone settings, your phone automatically uses Wi-Fi for calls and texts whenever mobile signal is poor."]},
    {"p": "Mobile Plans", "q": ["How do I block spam calls?", "I keep getting scam texts. What can I do?"],
         "a": ["Turn on Call Shield in the app under Settings > Call Shield. It labels likely spam calls and can send them straight to voicemail. You can forward scam texts to 7726 for free, which helps us block the sender for everyone.",
            "Call Shield is free on all plans and blocks most known scam numbers. You can also block individual numbers from your phone's call log. Please forward any scam texts to 7726 and never click links in unexpected messages."]},
    {"p": "Mobile Plans", "q": ["Do I get 5G on my plan?", "Why don't I see 5G on my phone?"],
         "a": ["All current Northwind plans include 5G at no extra cost. You'll need a 5G-compatible phone and to be in a 5G coverage area; you can check coverage on our website's coverage map.",
            "5G is included on every plan. If you don't see it, check that 5G is enabled under your phone's mobile network settings and that you're in a 5G area. Some older phones only support 4G."]},
    {"p": "Mobile Plans", "q": ["What happens when my contract ends?", "My device plan is finished. Will my bill go down?"],
         "a": ["When your device plan ends, you stop paying the device part of your bill automatically, and your airtime plan continues on a rolling monthly basis. You're free to upgrade, switch plans or keep things as they are.",
            "Once the last device payment is made, your bill drops to just the price of your airtime plan. We'll text you a month before, so you have time to decide whether you'd like to upgrade."]},
]

FAQ_LEADS = ["", "", "", "Good question! ", "Thanks for asking. ", "Sure. ", "Happy to help with that. "]
FAQ_TIPS = {
    "Billing & Payments": [
        "You can check all of this in the Bills section of the My Northwind app.",
        "If anything on your bill still looks wrong, our chat team can go through it with you line by line.",
        "Turning on paperless billing means you'll get an email as soon as each new bill is ready.",
        "Autopay customers also get a $5 monthly discount on most plans.",
        "We'll always text you before any change to your bill amount.",
        "Business customers can download all invoices at once from the business portal."],
    "Mobile Plans": [
        "You can compare all current plans side by side in the Plans section of the app.",
        "Your usage in the app updates every 15 minutes.",
        "Any change you make in the app is confirmed by text straight away.",
        "Family Share accounts can manage every line from a single login.",
        "If you're not sure which option suits you, our chat team can look at your usage and recommend one.",
        "Most changes take effect within an hour."],
    "Roaming": [
        "Before you travel, check that Data Roaming is switched on in your phone's settings.",
        "You'll get a welcome text when you arrive with the rates for that country.",
        "Wi-Fi Calling abroad is charged as if you were at home, so it's a good way to save on calls.",
        "You can see your roaming usage in the app, usually with a delay of a few hours.",
        "Cruise ships and flights use satellite networks, which are never covered by roaming add-ons."],
    "Devices & eSIM": [
        "Remember to back up your phone before any repair or reset.",
        "You can track repairs and claims in the Devices section of the app.",
        "All our stores can help you set up a new device for free.",
        "If you're switching phones, the guide in the app walks you through moving your contacts and photos.",
        "Our store teams can check your phone for you if you're not sure what's wrong."],
    "Online Store": [
        "You can follow every order in the Orders section of the app.",
        "Delivery is free on all orders over $25.",
        "You'll get a text update at each stage of delivery.",
        "Most orders placed before 3pm ship the same day.",
        "Keep the original box until you're sure you won't return the item."],
    "Home Broadband": [
        "You can run a line test yourself in the Northwind Home app under Help > Test my line.",
        "For the best Wi-Fi, place the hub in a central spot, off the floor and away from the TV.",
        "Our service status page shows any known issues in your area.",
        "If you work from home, ask us about the 4G backup box, which keeps you online during outages.",
        "Restarting the hub once a month can help keep things running smoothly."],
    "Account": [
        "For your security, we'll never ask for your password in chat or on the phone.",
        "You can manage all your account details in the app under Account.",
        "Two-step verification adds an extra layer of security to your account.",
        "If you need help with any of this, our chat team is available 24/7.",
        "Changes to account details are confirmed by email and text."],
}

FAQ_GERMAN_ROW = {
    "system": "Du bist der Hilfe-Assistent von Northwind Mobile. Antworte auf Deutsch und nutze den Kontext, falls vorhanden.",
    "question": "Wie richte ich die eSIM auf meinem {device} ein?",
    "context": None,
    "answer": "Fordern Sie in der App unter SIM > Zu eSIM wechseln eine eSIM an. Sie erhalten anschließend einen QR-Code per E-Mail. Verbinden Sie Ihr {device} mit dem WLAN, öffnen Sie die Mobilfunk-Einstellungen, wählen Sie „eSIM hinzufügen“ und scannen Sie den Code. Ihre bisherige SIM-Karte wird danach automatisch deaktiviert.",
    "product": "Devices & eSIM",
}


# ---------------------------------------------------------------------------
# escalations.parquet content
# ---------------------------------------------------------------------------
ESC_SYSTEM = [
    "You are a senior Northwind Mobile support specialist handling escalated complaints. Acknowledge the history, take ownership, give concrete next steps with dates, and never blame the customer.",
    "You are Northwind Mobile's escalations assistant. Customers reaching you have already contacted support at least once. Be empathetic, be specific about what you have done, and offer compensation within policy.",
    "You handle priority cases for Northwind Mobile. Confirm what you have checked, what you have changed, and when the customer will hear back. Flag fraud and vulnerability cases to the relevant team.",
]

ESC_TOPICS = [
    {"name": "sim_swap_fraud", "pri": ["urgent"],
         "u1": ["Someone moved my number to a new SIM last night without my permission. My phone lost signal, and this morning my bank called about payments I didn't make. How did you let this happen?",
             "My line went dead at 2am and when I called my bank they said someone had reset my online banking using a code sent to my phone. I never asked for a new SIM. This is fraud."],
         "a1": ["I'm so sorry, this is serious and I'm treating it as a fraud case right now. I can see a SIM swap was requested on {date} at 01:47 through a phone call that passed security. I've reversed it, so your number is back on your SIM, and I've added a fraud lock so no further SIM or account changes can be made without you visiting a store with ID.",
             "Thank you for telling us straight away. I've confirmed that a replacement SIM was activated on your number overnight, and I've cancelled it and put your number back on your own SIM. Your account now has a fraud flag, which blocks SIM changes and number transfers until you verify in person."],
         "u2": ["My bank account is empty. What are you going to do about that?", "How do I know this won't happen again? They clearly got past your security."],
         "a2": ["Your bank will handle the disputed payments, and I've emailed you a letter confirming the unauthorised SIM swap, with reference {ref}, which you can give them as evidence. Our fraud team will contact you within 24 hours to investigate how the request passed security, and I've added a ${credit} credit to your account while that happens.",
             "Our fraud team is reviewing the call recording from last night to see how verification was passed, and they'll contact you within 24 hours under reference {ref}. Until then, the fraud lock stays on. I'd also recommend changing your banking passwords and switching your bank to app-based approvals instead of text codes."]},
    {"name": "repeated_outage", "pri": ["high", "normal"],
         "u1": ["My broadband has dropped out almost every day for six weeks. I've had three engineer visits and every time I'm told it's fixed. I work from home and I'm losing money.",
             "This is my fifth time contacting you about the same broadband problem. The connection cuts out every evening and nobody seems able to fix it. I want to leave without paying a cancellation fee."],
         "a1": ["I'm really sorry, six weeks of dropouts is not acceptable, and I can see the three engineer visits on your account. Looking at the line data, the problem comes back each time the weather turns wet, which suggests a fault in the underground cable rather than your home wiring. I've raised a network fault so the cable itself is repaired.",
             "I completely understand your frustration, and I'm sorry you've had to chase this so many times. I've reviewed the history: each visit replaced equipment in your home, but the line monitoring shows the fault is further up the network. I'm taking ownership of your case from now on so you don't have to explain it again."],
         "u2": ["And if it's still not fixed?", "I've heard that before. I want the option to leave."],
         "a2": ["If the fault isn't fixed within 30 days, you can leave without any early termination fee, and I've put that in writing on your account under reference {ref}. I've also credited ${credit} for the disruption so far, and you'll get a direct line to me for updates.",
             "That's fair, and you have it: I've added a note to your account under reference {ref} that lets you cancel without any fee at any time in the next 90 days. I've also applied compensation for every day of disruption since the first report, which you'll see on your next bill."]},
    {"name": "debt_collection_dispute", "pri": ["high"],
         "u1": ["I've received a letter from a debt collection agency about a Northwind bill of ${amount2}. I cancelled my contract in {month} and paid the final bill. I have the confirmation email.",
             "A collection agency is chasing me for money you say I owe, but I left Northwind months ago and everything was paid. This could damage my credit rating."],
         "a1": ["I'm sorry, that must have been a worrying letter to receive. I've checked, and you're right: your final bill was paid in full, but a charge for the unreturned router was added afterwards by mistake, even though the router was returned. I've asked the agency to stop collection immediately.",
             "Thank you for letting us know, and I'm sorry for the stress this has caused. I've reviewed the account and the balance comes from a device charge that shouldn't have been applied after your cancellation. I've put the account on hold so the agency can't take any further action."],
         "u2": ["Will this affect my credit file?", "I want written confirmation that I don't owe anything."],
         "a2": ["I've cancelled the balance in full and asked the credit reference agencies to remove any record of it, which can take up to 30 days. You'll get a letter confirming this under reference {ref}, which you can show to any lender in the meantime.",
             "You'll receive a letter within 5 working days confirming the account is closed with a zero balance, under reference {ref}. I've also instructed the collection agency to close the case, and any report to the credit agencies will be withdrawn."]},
    {"name": "bereavement", "pri": ["high"],
         "u1": ["My father passed away last month and I'm trying to close his phone account, but I keep being told I need his password. I don't have it, and the bills are still being taken from his account.",
             "I'm writing about my late mother's account. I've called twice to close it and was asked to send a death certificate both times, but the direct debit is still being taken."],
         "a1": ["I'm very sorry for your loss, and I'm sorry this has been so difficult. You don't need his password. I've passed the account to our bereavement team and stopped all further payments today, so nothing else will be taken.",
             "I'm so sorry for your loss, and I apologise that you've had to contact us more than once at such a hard time. I can see the death certificate was received, but the closure wasn't completed. I've now closed the account and stopped the direct debit."],
         "u2": ["What about the payments taken since he died?", "Can I keep her number? It has family photos backed up to it."],
         "a2": ["All payments taken after the date of death will be refunded to the bank account they came from, within 10 working days. Our bereavement team will write to you with confirmation under reference {ref}, and you won't need to call us again about this.",
             "Yes, the number can be transferred to your name without a credit check, and I've held it for 90 days so it won't be reassigned. Our bereavement team will contact you under reference {ref} to complete the transfer at a time that suits you."]},
    {"name": "vulnerable_missold", "pri": ["high", "normal"],
         "u1": ["My grandmother is 84 and was sold an unlimited plan and two tablets in your {city} store. She only uses her phone for calls and can't afford ${amount2} a month. I think she was taken advantage of.",
             "I'm contacting you on behalf of my uncle, who has dementia. He was signed up to a new contract over the phone and didn't understand what he agreed to. He's now paying for three lines."],
         "a1": ["Thank you for raising this, and I'm sorry. I've looked at the sale and the products don't match her usage at all, so I've opened a mis-selling review. While it's under review, all charges for the extra products are paused.",
             "I'm sorry this happened, and thank you for letting us know. I've listened to the call notes and I'm not satisfied the contract was explained properly. I've paused billing for the new lines while we investigate."],
         "u2": ["Can the contract be cancelled?", "Can you put something on the account so it doesn't happen again?"],
         "a2": ["Yes. I've cancelled the additional lines and devices without any fees, and a courier will collect the tablets at a time that suits you. Her plan has been moved to a $15 plan that fits her usage, and the difference since the sale will be refunded under reference {ref}.",
             "I've added a vulnerability note to the account, which means any future sale needs a nominated family member to be present. With your permission, I can also register you as a trusted contact so you can manage the account on his behalf. The review reference is {ref}."]},
    {"name": "business_lines_down", "pri": ["urgent"],
         "u1": ["All 24 mobile lines on our business account stopped working at 9am. We run a taxi company and we're losing bookings every minute.",
             "Our business account has been suspended and none of our staff phones can make calls. We paid the invoice last week. We need this fixed now."],
         "a1": ["I understand how urgent this is, and I'm on it now. Your account was suspended automatically this morning because an invoice payment was matched to the wrong account. I've lifted the suspension on all lines, and service should return within 15 minutes.",
             "I'm sorry, I know every minute matters for you. I've found the cause: a bulk suspension was applied in error during a billing update. I've restored all your lines; please restart the phones if they don't reconnect in the next 10 minutes."],
         "u2": ["We lost half a day of business. Who's paying for that?", "How can we be sure this won't happen again?"],
         "a2": ["I've credited one month's line rental across all lines, and your account manager will call you today to discuss the business impact under reference {ref}. I've also added a protection flag so your account can't be suspended automatically.",
             "Your account now has a 'no automatic suspension' flag, meaning any payment issue goes to your account manager first. I've also credited a month of line rental for the disruption. The reference for this incident is {ref}."]},
    {"name": "insurance_rejected", "pri": ["normal"],
         "u1": ["My Northwind Protect claim for a stolen phone was rejected because I didn't report it within 24 hours. I was in hospital at the time. I've paid for insurance for two years.",
             "My insurance claim was declined because the damage was supposedly 'pre-existing'. The phone was perfect until I dropped it last week."],
         "a1": ["I'm sorry you were unwell, and I'm sorry the claim was rejected without considering that. The 24-hour rule has an exception for circumstances outside your control, so I've sent the claim back for review with a note explaining your hospital stay.",
             "I'm sorry, that's frustrating. I've looked at the claim, and the assessor's notes mention wear on the frame, which isn't a reason to decline accidental damage. I've asked for the decision to be reviewed by a senior assessor."],
         "u2": ["Do I need to send anything?", "How long will the review take?"],
         "a2": ["If you can upload a letter or discharge note from the hospital in the app under Claims, that's all we need. The review usually takes 3 working days, and you can follow it under reference {ref}.",
             "Reviews are completed within 5 working days, and you don't need to send anything else. If the original decision is overturned, the replacement is dispatched the next day. Your reference is {ref}."]},
    {"name": "engineer_no_show", "pri": ["normal", "low"],
         "u1": ["This is the third time an engineer hasn't turned up. I've taken three days off work. Each time I'm told they'll be there between 8 and 1, and nobody comes or calls.",
             "I waited in all day for an engineer again today and nobody came. That's twice now, and I still have no landline."],
         "a1": ["I'm really sorry, three missed appointments is unacceptable. I've checked the job history and the visits were cancelled by the contractor without anyone telling you. I've booked a priority appointment with our own engineering team instead.",
             "I'm sorry, that's a wasted day and it shouldn't have happened. The appointment was moved on our side and the text to let you know wasn't sent. I've booked you the first slot of the day with a named engineer."],
         "u2": ["What about the days off work?", "I want compensation for this."],
         "a2": ["You'll receive $30 for each missed appointment, which is $90 in total, credited to your account within 7 days. The new appointment is on {eta}, and the engineer will call you the evening before. Your reference is {ref}.",
             "You're entitled to compensation for each missed appointment, and I've added it to your next bill. I've also added a note so that if this visit is missed, it's escalated to the regional manager automatically. Reference: {ref}."]},
    {"name": "refund_never_arrived", "pri": ["normal"],
         "u1": ["I've been promised a refund of ${amount} three times since {month}. Each time I'm told it'll be 5 working days, and nothing ever arrives.",
             "I returned a phone two months ago and I'm still waiting for ${amount}. I've chatted with four different people."],
         "a1": ["I'm sorry, you shouldn't have had to chase this. I've found the problem: each refund was sent to a card that had expired, so it bounced back to us and nobody followed it up.",
             "I apologise for the runaround. I can see the return was received and approved, but the refund got stuck in a manual approval queue and each promise was made without checking it."],
         "u2": ["So when will I actually get it?", "I don't believe any more dates. What's different this time?"],
         "a2": ["I've sent the refund by bank transfer instead, with a ${credit} goodwill payment on top, and I've personally confirmed it's left our account today under reference {ref}. It should arrive within 2 working days.",
             "This time I've approved it myself and checked that the payment has been released. You'll receive an email confirmation with reference {ref} today, and I'll check in with you in 3 days to make sure it's arrived."]},
    {"name": "unauthorised_credit_check", "pri": ["normal", "low"],
         "u1": ["I've just seen a hard credit search from Northwind on my credit report. I never applied for anything with you.",
             "Why is there a Northwind credit check on my file? I only asked for a price quote in the store."],
         "a1": ["I understand why that's concerning. I can see an application was started in our {city} store on {date}, which triggered the credit check. If you didn't agree to it, that shouldn't have happened, and I've opened an investigation.",
             "Thanks for letting me know. Our records show a quote was turned into a credit application in store, and quotes should never do that. I'm sorry, and I've raised it with the store manager."],
         "u2": ["Can you remove it from my file?", "Will this affect my credit score?"],
         "a2": ["Yes. I've asked the credit reference agency to remove the search, which usually takes 2-4 weeks, and I'll email you a letter confirming the search was made in error under reference {ref}.",
             "A single search has a small effect, but it shouldn't be there at all, so I've requested its removal. You'll receive written confirmation under reference {ref} which you can share with lenders if needed."]},
    {"name": "repair_lost_phone", "pri": ["high", "normal"],
         "u1": ["I sent my phone for repair three weeks ago and now I'm told it's been lost. It had photos of my kids that weren't backed up.",
             "Your repair centre has lost my phone. Nobody can tell me where it is, and I still have 14 months of payments left on it."],
         "a1": ["I'm so sorry, I know how much those photos mean. I've traced the parcel: it was delivered to the repair centre on {date} and signed for, so it hasn't left the building. I've asked the site manager to search for it personally.",
             "I'm really sorry. I've confirmed the phone arrived at the repair centre but wasn't logged into the system, which is why nobody can find it. I've escalated to the repair centre's manager."],
         "u2": ["And if it can't be found?", "I'm still being charged for a phone I don't have."],
         "a2": ["If it isn't found within 5 working days, we'll replace it with a new phone of the same model and pay off the remaining device balance, so you won't pay for two phones. I'll update you either way, under reference {ref}.",
             "I've paused your device payments until this is resolved. If the phone can't be found, the remaining balance will be written off and we'll send you a new phone. Your reference is {ref}."]},
    {"name": "port_failed_business", "pri": ["urgent", "high"],
         "u1": ["We moved our business number to Northwind on Monday and it's been unreachable ever since. Customers think we've closed down.",
             "Our main shop number has been dead for three days after the transfer to you. It's printed on all our vans and flyers."],
         "a1": ["I'm sorry, I understand how damaging this is for a business. The transfer got stuck halfway: your old provider released the number, but our network didn't activate it. I've raised a priority ticket with our porting team.",
             "I'm sorry, that's really serious for you. I can see the number is in a failed porting state, so calls aren't reaching either network. I've escalated it to our network operations team as a priority."],
         "u2": ["How long will it take?", "Can you at least forward calls somewhere?"],
         "a2": ["Our porting team expects to complete it within 4 hours, and I've set up a temporary divert so calls to the number reach your new SIM in the meantime. I'll call you as soon as it's done. Reference: {ref}.",
             "Yes. I've arranged an interim divert, so calls to your business number will reach your mobile within the hour. The full fix is expected by the end of today, and I've credited a month's line rental for the disruption. Reference: {ref}."]},
    {"name": "accessibility", "pri": ["normal", "low"],
         "u1": ["I'm Deaf and I've asked four times for you to stop calling me. I need everything by text or email. Today someone called again about my bill and then marked my account as 'uncontactable'.",
             "I have a hearing impairment and your support line won't let me use relay services. Every time the call is connected through relay, your staff hang up."],
         "a1": ["I'm sorry, that's not acceptable, and I apologise. I've added a permanent contact preference to your account: text and email only, no calls. I've also removed the 'uncontactable' flag.",
             "I'm sorry, you should never be hung up on, and relay calls are fully supported. I've raised this with the support team managers and added a note to your account that relay calls must be accepted."],
         "u2": ["Will the billing team actually see it?", "What else can you do?"],
         "a2": ["Yes, the preference now appears to every team, including billing and collections. I'll also share your feedback with the accessibility lead, and I've applied a ${credit} credit for the inconvenience. Reference: {ref}.",
             "You can also reach us by live chat or email any time, and I've set up a named contact for you in the accessibility team. I've logged a formal complaint on your behalf under reference {ref} so the training issue is followed up."]},
    {"name": "rude_staff", "pri": ["low"],
         "u1": ["I visited your {city} store today to ask about my bill and the staff member was rude and dismissive, then told me to 'go online'. I've been a customer for 11 years.",
             "I want to complain about how I was treated in your {city} store. I was laughed at when I asked how to set up my new phone."],
         "a1": ["I'm sorry, that's not how we want anyone to be treated, especially after 11 years with us. I've passed the details to the store's regional manager, who will look into it with the team.",
             "I'm really sorry. Nobody should be made to feel that way for asking a question. I've logged a formal complaint with the store's manager so it can be addressed with the staff involved."],
         "u2": ["I'd still like help with the original problem.", "Will anything actually happen?"],
         "a2": ["Of course. I've gone through your bill with you here, and I've booked a free setup appointment at a nearby store with a named adviser. The complaint reference is {ref}.",
             "Yes. The regional manager will reply to you personally within 5 working days with what's been done, under reference {ref}. I've also added a ${credit} credit to say sorry."]},
    {"name": "data_overcharge_bug", "pri": ["normal"],
         "u1": ["My usage meter says I've used 90 GB this month, but I've been on Wi-Fi almost the whole time. I've been charged ${extra} for extra data.",
             "I've been charged for out-of-bundle data three months running, but my phone shows I used half of what your app claims."],
         "a1": ["Thank you for flagging this. I've checked, and there's a known fault that counted some Wi-Fi Calling traffic as mobile data on certain phones between {date} and last week. Your line is one of those affected.",
             "I'm sorry, I can see why you're frustrated. I've compared your usage records with our network logs and found duplicate data records, which inflated your usage. This has been confirmed as a billing fault."],
         "u2": ["So will I get the money back?", "What about the months before?"],
         "a2": ["Yes, I've refunded the ${extra} in full, and any other affected charges will be corrected automatically on your next bill. The fault has been fixed, and you'll receive a letter explaining it under reference {ref}.",
             "I've reviewed all three months and refunded every out-of-bundle charge in that period. I've also added a note so our billing team checks your usage manually for the next two bills. Reference: {ref}."]},
    {"name": "wrong_disconnection", "pri": ["high"],
         "u1": ["My number was disconnected this morning. When I called, I was told I'd asked to cancel it. I never did. I need this number for my job.",
             "You've cut off my phone line by mistake. Apparently someone cancelled the wrong account. I've had no service for two days."],
         "a1": ["I'm really sorry. I've found that a cancellation request for a different customer was applied to your number by mistake. I've started restoring your number, and it's been protected so it can't be given to anyone else.",
             "I'm sorry, this shouldn't have happened. I can confirm the cancellation was an internal error and wasn't requested by you. I've asked our provisioning team to reactivate the line urgently."],
         "u2": ["When will it be back?", "I've missed work calls because of this."],
         "a2": ["Your number will be back on your existing SIM within 2 hours, with the same plan and settings. I've credited a month's line rental and logged the error under reference {ref} so it can be investigated.",
             "I'm sorry about the missed calls. The line will be active again within 2 hours, and I've applied a credit for the disruption. If you need a letter for your employer explaining the outage, I can send one under reference {ref}."]},
]

ESC_TOPICS.append({
    "name": "roaming_bill_shock", "pri": ["high", "normal"],
    "u1": ["My latest bill is over ${big} because of roaming on a cruise. Nobody told me the ship's network wasn't covered by my Travel Pass.",
        "I've been billed ${big} for data I supposedly used on a ferry to Greece. I had the Travel Pass on the whole time."],
    "a1": ["I'm sorry, I can see how alarming that bill must be. Ship and ferry networks use satellite connections that are billed separately from the Travel Pass. Our warning text should have been sent when you connected, and I can see it wasn't, so I've put the charges on hold while I review them.",
        "I understand, and I'm sorry for the shock. I've checked the usage and it all came from a maritime network, which isn't covered by the Travel Pass. Our system should have stopped usage at your $50 roaming cap and it didn't, so I've frozen the charges."],
    "u2": ["I can't pay that. What happens now?", "Why didn't the spending cap stop it?"],
    "a2": ["You won't need to pay it. Because the cap didn't work as it should, I've reduced the charges to $50, the amount of your cap, and credited the rest. You'll see the corrected bill within 48 hours under reference {ref}.",
        "The maritime network didn't report usage to us in real time, so the cap was only applied after the data had been used. That's our failure, not yours, so I've reduced the bill to your $50 cap and credited the remainder under reference {ref}."]})
# topics whose follow-ups depend on the exact opening (pronouns, facts): use one index for all parts
ESC_TIED = {"bereavement", "vulnerable_missold", "insurance_rejected", "engineer_no_show", "unauthorised_credit_check",
            "repair_lost_phone", "accessibility", "rude_staff", "data_overcharge_bug"}

ESC_USER_EXTRA = [
    "I've explained this to three different people already.",
    "Please don't just send me another template reply.",
    "I've been a customer for years and I've never been treated like this.",
    "I'll be contacting the regulator if this isn't resolved.",
    "Thank you. This is the first time anyone has actually explained what went wrong.",
]
ESC_USER_CLOSE = [
    "Thank you. I'll wait for the update.", "Ok. I appreciate you taking ownership of this.",
    "Fine. I'll hold you to that.", "Thanks, that's a relief.",
]
ESC_ASSIST_CLOSE = [
    "Thank you for your patience, {c}. I'll keep this case open until everything is confirmed, and you can reply here any time for an update.",
    "Of course. I've set a reminder to check on your case in 3 working days, and I'll contact you then even if there's nothing new.",
    "Thanks, {c}. I'm sorry again for everything you've been through with this. You'll hear from me by email with the next update.",
]


# ---------------------------------------------------------------------------
# Defect injection helpers
# ---------------------------------------------------------------------------
HELLO = ["Hi", "Hello?", "hi there", "Hey, is anyone there?", "Good morning"]
ADDENDUM = ["Sorry, forgot to say, it's for the line ending {last4}.", "This is the second time I've contacted you about this btw",
            "I'm on my lunch break so I might be slow to reply.", "Just to add, I'm on the {plan} plan if that matters.",
            "Also I'm abroad at the moment so I can't call in."]
NUDGE = ["hello?", "Are you still there?", "??", "Hello, anyone?"]
HOLD = ["Thanks, {c}. Give me a moment while I check your account.", "Let me look into that for you, one moment please.",
        "Thanks for your patience, I'm just checking this with our billing team.", "Bear with me a minute while I pull up your details."]
HOLD_EMAIL = "Thank you for your email. We've received your message and will reply within 24 hours. Your case reference is {ref}."
NUDGE_EMAIL = "Just following up on my email below, is there any update?"
TRAILING_TEXTS = ["Thanks", "ok", "\U0001F44D", "Actually, one more question: do you also do home broadband in my area?",
                  "Great, thanks. Oh, and can I change my payment date too?", "Cheers", "Will do, thanks again!",
                  "Sorry, can you repeat that? My connection dropped.", "Hello? Are you still there?", "ok thank you bye"]
REFUSALS = [
    "As an AI language model, I cannot access your account details or process refunds. Please contact Northwind Mobile customer support directly for assistance.",
    "I'm sorry, but as an AI language model I don't have the ability to check order statuses or make changes to accounts. I recommend reaching out to the company's customer service team.",
    "As an AI language model, I cannot help with that request. I am not able to view billing information or personal data.",
]
REPEATED_SENTENCE = "Please restart your phone and try again."


def first_index(msgs, speaker, start=0):
    for i in range(start, len(msgs)):
        if msgs[i]["speaker"] == speaker:
            return i
    raise ValueError(speaker)


def indices(msgs, speaker):
    return [i for i, m in enumerate(msgs) if m["speaker"] == speaker]


def apply_consecutive(conv, ops, rng):
    msgs, s, ch = conv["messages"], conv["slots"], conv["channel"]
    for op in ops:
        if op == "hello_first":
            msgs.insert(first_index(msgs, "customer"), M("customer", rng.choice(HELLO), "consecutive"))
        elif op in ("addendum", "nudge"):
            j = first_index(msgs, "agent")
            text = fill(rng.choice(ADDENDUM), s) if op == "addendum" else (NUDGE_EMAIL if ch == "email" else rng.choice(NUDGE))
            if ch == "email":
                text = f"{rng.choice(['Hi again,', 'Hello,', 'Hi,'])}\n\n{text}\n\n{s['c']}"
            msgs.insert(j, M("customer", text, "consecutive"))
        elif op == "hold":
            ag = indices(msgs, "agent")
            if ch == "email":
                msgs.insert(ag[0], M("agent", fill(HOLD_EMAIL, s), "consecutive"))
            else:
                msgs.insert(ag[1] if len(ag) > 1 else ag[0], M("agent", fill(rng.choice(HOLD), s), "consecutive"))


def plan_for_base(n):
    """keyword arguments for build_en for a base conversation that will carry defect n."""
    kw = {}
    if n in CONSEC:
        kw.update(min_k=1, max_msgs=12 - len(CONSEC[n]))
        if "hello_first" in CONSEC[n]:
            kw["channel"] = "chat" if n % 2 else "whatsapp"
    if n in TRAILING:
        kw["max_msgs"] = 11
    if n in SUPERVISOR:
        kw.update(scenario="bill_higher" if n == 68 else "roaming_charges", channel="chat", closing=True,
                  min_k=1, max_msgs=11)
    if n in EMPTY or n in REFUSAL or n in ECHO or n in ONE_WORD or n == REPETITION or n == BELL:
        kw["min_k"] = 1
    if n == SPECIAL_TOKEN:
        kw.update(closing=True, channel="chat")
    if n == CRLF:
        kw.update(channel="email", min_k=1)
    if n in EXACT_DUP.values() or n in [v[0] for v in NEAR_DUP.values()]:
        kw["min_k"] = 1
    return kw


def apply_base_defects(n, conv, rng):
    msgs, s, ch = conv["messages"], conv["slots"], conv["channel"]
    if n in CONSEC:
        apply_consecutive(conv, CONSEC[n], rng)
    if n in TRAILING:
        text = TRAILING_TEXTS[TRAILING.index(n)]
        if ch == "email":
            text = style_c(text, ch, s, rng, False)
        msgs.append(M("customer", text, "trailing_customer"))
    if n in SUPERVISOR:
        i = len(msgs) - 2
        assert msgs[i]["speaker"] == "customer"
        msgs.insert(i, M("supervisor", fill("Hi {c}, I'm {sup}, one of the team leads. {a} asked me to review your case. I've approved an extra credit of ${credit}, which will appear on your next bill on top of what {a} already arranged.", s), "unknown_speaker"))
    if n in EMPTY:
        order = list(EMPTY)
        want = ["customer", "agent", "customer", "customer", "agent", "customer"][order.index(n)]
        cands = [i for i in indices(msgs, want) if i > first_index(msgs, "customer") + (1 if want == "customer" else 0)]
        i = cands[0] if want == "customer" else cands[-1]
        msgs[i]["text"] = EMPTY[n]
        msgs[i]["tags"].append("empty_text")
    if n in REFUSAL:
        ag = indices(msgs, "agent")
        i = ag[[0, 1, -1][REFUSAL.index(n)]]
        msgs[i]["text"] = REFUSALS[REFUSAL.index(n)]
        msgs[i]["tags"].append("quality:refusal")
    if n in ECHO:
        i = indices(msgs, "agent")[1]
        assert msgs[i - 1]["speaker"] == "customer"
        msgs[i]["text"] = msgs[i - 1]["text"]
        msgs[i]["tags"].append("quality:echo")
    if n in ONE_WORD:
        i = indices(msgs, "agent")[-1]
        msgs[i]["text"] = ONE_WORD[n]
        msgs[i]["tags"].append("quality:one_word")
    if n == REPETITION:
        i = indices(msgs, "agent")[1]
        msgs[i]["text"] = " ".join([REPEATED_SENTENCE] * 30)
        msgs[i]["tags"].append("quality:repetition")
    if n == SPECIAL_TOKEN:
        i = indices(msgs, "agent")[-1]
        msgs[i]["text"] += "<|endoftext|>"
        msgs[i]["tags"].append("odd:special_token")
    if n == BELL:
        i = indices(msgs, "customer")[1]
        t = msgs[i]["text"]
        msgs[i]["text"] = t.replace(". ", ".\x07 ", 1) if ". " in t else t + "\x07"
        msgs[i]["tags"].append("odd:bell")
    if n == CRLF:
        i = first_index(msgs, "customer")
        msgs[i]["text"] = msgs[i]["text"].replace("\n", "\r\n")
        msgs[i]["tags"].append("odd:crlf")


WORD_SWAPS = [("straight away", "right away"), ("usually", "normally"), ("I've", "I have"), ("really", "very"),
              ("Of course", "Certainly"), ("can't", "cannot"), ("within", "in"), ("Happy to help", "Glad to help"),
              ("aren't", "are not"), ("don't", "do not"), ("won't", "will not"), ("I'll", "I will"),
              ("You're", "You are"), ("It's", "It is"), ("now", "today")]


def make_near_dup(src: dict, kind: str, rng: random.Random) -> tuple[dict, list]:
    conv = copy.deepcopy(src)
    msgs, s = conv["messages"], conv["slots"]
    changes = []

    def sub_all(pattern, repl, count=0, only=None):
        for t, m in enumerate(msgs):
            if only is not None and m["speaker"] != only:
                continue
            new = re.sub(pattern, repl, m["text"], count=count)
            if new != m["text"]:
                changes.append({"turn": t + 1, "speaker": m["speaker"], "before": m["text"], "after": new})
                m["text"] = new
                if count:
                    return True
        return bool(changes)

    if kind == "name":
        new = rng.choice([x for x in FIRST if x != s["c"]])
        sub_all(rf"\b{re.escape(s['c'])}\b", new)
    elif kind == "agent_name":
        new = rng.choice([x for x in AGENTS if x != s["a"]])
        sub_all(rf"\b{re.escape(s['a'])}\b", new)
    elif kind == "thanks":
        sub_all(r"\bThanks\b", "Thank you", count=1) or sub_all(r"\bthanks\b", "thank you", count=1)
    elif kind == "greeting":
        sub_all(r"^(Hi|Hello|Dear|Hey)\b", lambda m: {"Hi": "Hello", "Hello": "Hi", "Dear": "Hello", "Hey": "Hi"}[m.group(1)],
                count=1, only="agent")
    elif kind == "digit":
        m = re.search(r"\b(?:NW|NWC)-\d+", "\n".join(x["text"] for x in msgs))
        if m:
            old = m.group(0)
            new = old[:-1] + str((int(old[-1]) + 3) % 10)
            sub_all(re.escape(old), new)
        else:
            sub_all(r"\$(\d+)\.(\d)(\d)", lambda mm: f"${mm.group(1)}.{mm.group(2)}{(int(mm.group(3)) + 1) % 10}", count=1)
    elif kind == "punct":
        for t, m in enumerate(msgs):
            if m["speaker"] == "customer" and m["text"].rstrip()[-1:] in ".?!":
                new = m["text"].rstrip()[:-1]
                changes.append({"turn": t + 1, "speaker": "customer", "before": m["text"], "after": new})
                m["text"] = new
                break
        else:
            sub_all(r",", "", count=1)
    elif kind == "word":
        for a, b in WORD_SWAPS:
            if sub_all(rf"\b{re.escape(a)}\b", b, count=1, only="agent"):
                break
    if not changes:  # fall back to a one-word change anywhere
        for a, b in WORD_SWAPS:
            if sub_all(rf"\b{re.escape(a)}\b", b, count=1):
                break
    assert changes, (kind, src["messages"])
    return conv, changes


# ---------------------------------------------------------------------------
# Similarity (used to keep unplanned conversations clearly distinct)
# ---------------------------------------------------------------------------
def shingles(texts) -> set:
    words = re.findall(r"\w+", " ".join(texts).lower())
    return {" ".join(words[i:i + 3]) for i in range(max(1, len(words) - 2))}


def conv_shingles(conv) -> set:
    return shingles(m["text"] for m in conv["messages"] if m["speaker"] != "system" and len(m["text"]) < 20000)


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


SIM_MAX_CONV = 0.45


# ---------------------------------------------------------------------------
# Build support_chats
# ---------------------------------------------------------------------------
def build_special(n, rng):
    s = en_slots(rng)
    if n == HUGE:
        return sp_huge_log(rng, s)
    if n in UNSAFE:
        return sp_unsafe(rng, s, UNSAFE[n])
    if n in PII_CARD:
        return sp_card(rng, s, n, PII_CARD[n])
    if n in PII_EMAIL:
        return sp_email(rng, s, n, PII_EMAIL[n])
    if n in PII_PHONE:
        return sp_phone(rng, s, n, PII_PHONE[n])
    if n in PII_IBAN:
        return sp_iban(rng, s, PII_IBAN[n])
    if n in PII_IP:
        return sp_ip(rng, s, PII_IP[n])
    if n == API_KEY:
        return sp_api_key(rng, s)[0]
    if n == AWS_KEY:
        return sp_aws_key(rng, s)[0]
    if n == MOJIBAKE:
        return sp_mojibake(rng, s)
    if n in NO_AGENT:
        return sp_no_agent(rng, s, n)
    if n in GERMAN:
        extra = {"phone": PII_PHONE_DE.get(n, ""), "iban": PII_IBAN_DE.get(n, "")}
        return build_foreign(rng, n, GERMAN_SCRIPTS, de_slots, extra)
    if n in SPANISH:
        return build_foreign(rng, n, SPANISH_SCRIPTS, es_slots)
    if n in MIXED_DE_EN:
        return build_foreign(rng, n, MIXED_SCRIPTS, de_slots)
    return None


def build_conversations(rng):
    convs, sh, near_info = {}, {}, {}
    retries = 0
    for n in range(1, N_CONV + 1):
        if n in EXACT_DUP:
            conv = copy.deepcopy(convs[EXACT_DUP[n]])
            conv["kind"] = "exact_duplicate"
        elif n in NEAR_DUP:
            src, kind = NEAR_DUP[n]
            conv, changes = make_near_dup(convs[src], kind, rng)
            conv["kind"] = "near_duplicate"
            near_info[n] = {"kind": kind, "changes": changes}
        else:
            conv = build_special(n, rng)
            if conv is not None:
                conv["kind"] = "scripted"
            else:
                kw = plan_for_base(n)
                for attempt in range(200):
                    conv = build_en(rng, **kw)
                    apply_base_defects(n, conv, rng)
                    cs = conv_shingles(conv)
                    if all(jaccard(cs, o) <= SIM_MAX_CONV for o in sh.values()):
                        break
                    retries += 1
                else:
                    raise RuntimeError(f"could not build a distinct conversation for {n}")
                conv["kind"] = "generated"
        conv["id"] = cid(n)
        convs[n] = conv
        sh[n] = conv_shingles(conv)
    return convs, near_info, retries


def csv_rows(convs, rng):
    """Return (records, scatter_info). records: list of (cid, turn, speaker, text, channel)."""
    records, pending, info = [], {}, {"shuffled": {}, "scattered": {}}
    for n in range(1, N_CONV + 1):
        c = convs[n]
        rows = [(c["id"], t + 1, m["speaker"], m["text"], c["channel"]) for t, m in enumerate(c["messages"])]
        if n in SHUFFLED:
            orig = list(rows)
            while rows == orig:
                rng.shuffle(rows)
            info["shuffled"][c["id"]] = [r[1] for r in rows]
        if n in SHUFFLED_SCATTER:
            moved = [rows.pop(rng.randrange(len(rows))) for _ in range(2)]
            host = n + 37
            pending.setdefault(host, []).extend(moved)
            info["scattered"][c["id"]] = {"turns_moved": [r[1] for r in moved], "placed_after": cid(host)}
        records.extend(rows)
        if n == EMPTY_ID_AFTER:
            records.append(("", 3, "customer", "Hello? Is anyone still there? I've been waiting 20 minutes.", "chat"))
        records.extend(pending.pop(n, []))
    assert not pending
    return records, info


MALFORMED_LINES = [
    ("conv-0221,1,customer,Hi, I was charged twice this month, can you check?,chat", "too many fields (7): unquoted commas in text"),
    ("conv-0222,1,customer", "too few fields (3)"),
    ("conv-0223,abc,customer,My parcel still hasn't arrived.,chat", "turn is not an integer ('abc')"),
]


def check_csv_roundtrip(records, path):
    """The file must parse back (csv module) to exactly the records, followed by the 3 malformed lines."""
    import sys
    old = csv.field_size_limit(sys.maxsize)
    try:
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
    finally:
        csv.field_size_limit(old)
    assert rows[0] == ["conversation_id", "turn", "speaker", "text", "channel"]
    body, bad = rows[1:-3], rows[-3:]
    assert body == [[r[0], str(r[1]), r[2], r[3], r[4]] for r in records]
    assert [len(b) for b in bad] == [7, 3, 5] and bad[2][1] == "abc"


def write_csv(records, path):
    buf = io.StringIO()
    line = 2  # line 1 is the header
    index = []
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["conversation_id", "turn", "speaker", "text", "channel"])
    for r in records:
        one = io.StringIO()
        csv.writer(one, lineterminator="\n").writerow(r)
        s = one.getvalue()
        buf.write(s)
        index.append(line)
        line += s.count("\n")
    malformed = []
    for text, problem in MALFORMED_LINES:
        buf.write(text + "\n")
        malformed.append({"line": line, "content": text, "problem": problem})
        line += 1
    data = buf.getvalue()
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(data)
    return index, malformed, len(data.encode("utf-8"))


# ---------------------------------------------------------------------------
# Build faq_pairs
# ---------------------------------------------------------------------------
def faq_row(rng, topic):
    s = en_slots(rng)
    ctx = topic["ctx"](s, rng) if topic.get("ctx") else (ctx_account(s, rng) if rng.random() < 0.15 else None)
    q = fill(rng.choice(topic["q"]), s)
    a = rng.choice(topic["a"])
    a = a(s) if callable(a) else fill(a, s)
    lead = rng.choice(FAQ_LEADS)
    a = (lead + a) if lead else a
    if rng.random() < 0.8:
        a = a + " " + rng.choice(FAQ_TIPS[topic["p"]])
    system = rng.choice([x for x in FAQ_SYSTEM if topic["p"] == "Online Store" or x != SYSTEM_EN[2]])
    return {"system": system, "question": q, "context": ctx, "answer": a, "product": topic["p"]}


def build_faq(rng):
    rows, sh = [], []
    order = []
    while len(order) < FAQ_BASE:
        block = list(range(len(FAQ)))
        rng.shuffle(block)
        order.extend(block)
    retries = 0
    for i in range(1, FAQ_BASE + 1):
        if i == FAQ_GERMAN:
            s = en_slots(rng)
            row = {k: (fill(v, s) if isinstance(v, str) else v) for k, v in FAQ_GERMAN_ROW.items()}
        else:
            topic = FAQ[order[i - 1]]
            for attempt in range(100):
                row = faq_row(rng, topic)
                cand = shingles([row["question"], row["answer"]])
                if all(jaccard(cand, o) <= 0.55 for o in sh):
                    break
                retries += 1
                topic = rng.choice(FAQ)
            else:
                raise RuntimeError("faq")
        sh.append(shingles([row["question"], row["answer"]]))
        rows.append({"id": f"faq-{i:04d}", **row})
    for i, val in FAQ_EMPTY_ANSWER.items():
        rows[i - 1]["answer"] = val
    rows[FAQ_NULL_QUESTION - 1]["question"] = None
    for new, src in FAQ_CONTENT_DUP.items():
        rows.append({**rows[src - 1], "id": f"faq-{new:04d}"})
    # identical rows (same id too): faq-0023 again right after faq-0040, faq-0071 again at the end
    final = []
    for r in rows:
        final.append(r)
        if r["id"] == "faq-0040":
            final.append(dict(rows[FAQ_ROW_DUP[0] - 1]))
    final.append(dict(rows[FAQ_ROW_DUP[1] - 1]))
    return final, retries


# ---------------------------------------------------------------------------
# Build escalations
# ---------------------------------------------------------------------------
def esc_conv(rng, topic, i, use):
    s = en_slots(rng)
    if topic["name"] in ESC_TIED:
        a = b = use % 2
    else:
        a, b = rng.randrange(2), rng.randrange(2)
    msgs = []
    if rng.random() < 0.75 or i == ESC_SYSTEM_USER_ONLY:
        msgs.append({"role": "system", "content": rng.choice(ESC_SYSTEM)})
    u1 = fill(topic["u1"][a], s)
    if rng.random() < 0.25:
        u1 = rng.choice(["Hi, ", "Hello. "]) + u1
    msgs.append({"role": "user", "content": u1})
    if i == ESC_SYSTEM_USER_ONLY:
        return msgs, s
    msgs.append({"role": "assistant", "content": fill(topic["a1"][a], s)})
    u2 = fill(topic["u2"][b], s)
    if rng.random() < 0.3:
        u2 = rng.choice(ESC_USER_EXTRA[:4]) + " " + u2
    msgs.append({"role": "user", "content": u2})
    if i == ESC_ENDS_USER:
        return msgs, s
    msgs.append({"role": "assistant", "content": fill(topic["a2"][b], s)})
    if rng.random() < 0.55:
        msgs.append({"role": "user", "content": rng.choice(ESC_USER_CLOSE)})
        msgs.append({"role": "assistant", "content": fill(rng.choice(ESC_ASSIST_CLOSE), s)})
    return msgs, s


def build_escalations(rng):
    order = list(range(len(ESC_TOPICS))) * 2
    untied = [k for k, t in enumerate(ESC_TOPICS) if t["name"] not in ESC_TIED]
    rng.shuffle(untied)
    order += untied[: N_ESC - len(order)]
    rng.shuffle(order)
    rows, sh, retries, uses = [], [], 0, {}
    for i in range(1, N_ESC + 1):
        topic = ESC_TOPICS[order[i - 1]]
        use = uses.get(topic["name"], 0)
        uses[topic["name"]] = use + 1
        for attempt in range(200):
            msgs, _slots = esc_conv(rng, topic, i, use)
            cand = shingles(m["content"] for m in msgs if m["role"] != "system")
            if i in (ESC_ENDS_USER, ESC_SYSTEM_USER_ONLY) or all(jaccard(cand, o) <= 0.6 for o in sh):
                break
            retries += 1
        else:
            raise RuntimeError(f"esc {i} {topic['name']}")
        sh.append(cand)
        rows.append({"ticket_id": f"ESC-26-{i:04d}", "messages": msgs,
                     "priority": rng.choice(topic["pri"]), "_topic": topic["name"]})
    return rows, retries


# ---------------------------------------------------------------------------
# Verification + manifest
# ---------------------------------------------------------------------------
EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+\.[A-Za-z.]+")
CARD_RE = re.compile(r"(?<![\d.])\d(?:[ -]?\d){12,18}(?![\d.])")
IBAN_RE = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,3})?\b")
IP_RE = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
PHONE_RE = re.compile(r"\+\d{1,3}[ (]*\d[\d ()-]{6,}\d")
SK_RE = re.compile(r"sk-test-[A-Za-z0-9]{20,}")
AKIA_RE = re.compile(r"AKIA[A-Z2-7]{16}")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(iban: str) -> bool:
    x = iban.replace(" ", "")
    x = x[4:] + x[:4]
    return int("".join(str(int(c, 36)) for c in x)) % 97 == 1


def find_pii(text: str) -> list:
    out = []
    out += [("email", m) for m in EMAIL_RE.findall(text)]
    out += [("card", m) for m in CARD_RE.findall(text) if luhn_ok(re.sub(r"\D", "", m))]
    out += [("iban", m) for m in IBAN_RE.findall(text) if iban_ok(m)]
    out += [("ip", m) for m in IP_RE.findall(text)]
    out += [("phone", m) for m in PHONE_RE.findall(text)]
    out += [("api_key", m) for m in SK_RE.findall(text)]
    out += [("aws_access_key", m) for m in AKIA_RE.findall(text)]
    return out


def runs_same_speaker(msgs):
    runs, i = [], 0
    while i < len(msgs):
        j = i
        while j + 1 < len(msgs) and msgs[j + 1]["speaker"] == msgs[i]["speaker"]:
            j += 1
        if j > i and msgs[i]["speaker"] != "system":
            runs.append({"speaker": msgs[i]["speaker"], "turns": list(range(i + 1, j + 2))})
        i = j + 1
    return runs


def build_manifest(convs, near_info, row_info, line_index, records, malformed, faq, esc):
    ids = lambda ns: [cid(n) for n in ns]
    m = {"generator": "data/sample/generate.py", "seed": SEED}
    chats = {}
    chats["conversations"] = N_CONV
    chats["rows_valid_records"] = len(records)
    chats["exact_duplicates"] = [{"id": cid(d), "duplicate_of": cid(s)} for d, s in EXACT_DUP.items()]
    chats["near_duplicates"] = []
    for n, (src, kind) in NEAR_DUP.items():
        j = jaccard(conv_shingles(convs[n]), conv_shingles(convs[src]))
        chats["near_duplicates"].append({"id": cid(n), "near_duplicate_of": cid(src), "change": kind,
                                         "word3_jaccard": round(j, 3),
                                         "diff": [{k: v for k, v in c.items()} for c in near_info[n]["changes"]]})
    chats["language"] = {"de": ids(GERMAN), "es": ids(SPANISH), "customer_de_agent_en": ids(MIXED_DE_EN)}
    tags = {}
    for n, c in convs.items():
        for t, msg in enumerate(c["messages"]):
            for tag in msg["tags"]:
                tags.setdefault(tag, []).append({"id": c["id"], "turn": t + 1, "speaker": msg["speaker"]})
    huge = tags["huge_message"][0]
    huge["chars"] = len(convs[HUGE]["messages"][huge["turn"] - 1]["text"])
    chats["over_token_limit"] = [huge]
    chats["empty_text"] = [dict(x, text=convs[int(x["id"][5:])]["messages"][x["turn"] - 1]["text"]) for x in tags["empty_text"]]
    chats["consecutive_same_speaker"] = [dict(id=c["id"], **r) for n, c in convs.items() for r in runs_same_speaker(c["messages"])]
    chats["unknown_speaker"] = tags["unknown_speaker"]
    chats["trailing_customer_after_agent"] = ids(TRAILING)
    chats["no_agent_message"] = ids(NO_AGENT)
    chats["rows_out_of_order"] = {"ids": ids(SHUFFLED), "file_order_of_turns": row_info["shuffled"],
                                  "rows_moved_elsewhere": row_info["scattered"]}
    pii = []
    for n, c in convs.items():
        for t, msg in enumerate(c["messages"]):
            for kind, val in find_pii(msg["text"]):
                pii.append({"id": c["id"], "turn": t + 1, "speaker": msg["speaker"], "kind": kind, "value": val})
    huge_ips = [p for p in pii if p["id"] == cid(HUGE)]
    chats["pii"] = [p for p in pii if p["id"] != cid(HUGE)]
    chats["pii_in_huge_log"] = {"id": cid(HUGE), "turn": huge["turn"], "kinds": sorted({p["kind"] for p in huge_ips}),
                                "count": len(huge_ips)}
    chats["unsafe"] = [dict(x, kind=UNSAFE[int(x["id"][5:])]) for k, v in tags.items() if k.startswith("unsafe:") for x in v]
    chats["quality"] = {k.split(":")[1]: v for k, v in tags.items() if k.startswith("quality:")}
    chats["odd_text"] = {k.split(":")[1]: v for k, v in tags.items() if k.startswith("odd:")}
    chats["odd_text"]["mojibake"] = tags["mojibake"]
    rec_i = next(i for i, r in enumerate(records) if r[0] == "")
    chats["empty_conversation_id_row"] = {"record_index": rec_i, "line": line_index[rec_i], "turn": 3,
                                          "speaker": "customer", "text": records[rec_i][3],
                                          "placed_after": cid(EMPTY_ID_AFTER)}
    chats["malformed_trailing_lines"] = malformed
    chats["malformed_ids"] = MALFORMED_IDS
    chats["system_first_row"] = [c["id"] for c in convs.values() if c["messages"][0]["speaker"] == "system"]
    m["support_chats.csv"] = chats

    m["faq_pairs.parquet"] = {
        "rows": len(faq), "unique_ids": len({r["id"] for r in faq}),
        "empty_answer": [f"faq-{i:04d}" for i in FAQ_EMPTY_ANSWER],
        "null_question": [f"faq-{FAQ_NULL_QUESTION:04d}"],
        "german": [f"faq-{FAQ_GERMAN:04d}"],
        "content_duplicates_new_id": [{"id": f"faq-{a:04d}", "duplicate_of": f"faq-{b:04d}"} for a, b in FAQ_CONTENT_DUP.items()],
        "identical_rows_same_id": [{"id": f"faq-{i:04d}", "row_indices": [k for k, r in enumerate(faq) if r["id"] == f"faq-{i:04d}"]} for i in FAQ_ROW_DUP],
        "null_context_rows": sum(r["context"] is None for r in faq),
        "null_system_rows": sum(r["system"] is None for r in faq),
    }
    m["escalations.parquet"] = {
        "rows": len(esc),
        "ends_with_user": [f"ESC-26-{ESC_ENDS_USER:04d}"],
        "system_and_user_only": [f"ESC-26-{ESC_SYSTEM_USER_ONLY:04d}"],
        "without_system_message": [r["ticket_id"] for r in esc if r["messages"][0]["role"] != "system"],
        "topics": {r["ticket_id"]: r["_topic"] for r in esc},
    }
    return m


def verify(convs, manifest, faq, esc):
    chats = manifest["support_chats.csv"]
    # message counts
    for n, c in convs.items():
        assert 2 <= len(c["messages"]) <= 12, (n, len(c["messages"]))
    # exact duplicates are exactly the planned ones
    groups = {}
    for n, c in convs.items():
        key = (c["channel"], tuple((m["speaker"], m["text"]) for m in c["messages"]))
        groups.setdefault(key, []).append(n)
    dups = sorted(tuple(sorted(g)) for g in groups.values() if len(g) > 1)
    assert dups == sorted(tuple(sorted((d, s))) for d, s in EXACT_DUP.items()), dups
    # no unplanned near duplicates
    sh = {n: conv_shingles(c) for n, c in convs.items()}
    allowed = {frozenset((d, s)) for d, s in EXACT_DUP.items()} | {frozenset((d, s[0])) for d, s in NEAR_DUP.items()}
    worst = 0.0
    for a in range(1, N_CONV + 1):
        for b in range(a + 1, N_CONV + 1):
            if frozenset((a, b)) in allowed:
                continue
            j = jaccard(sh[a], sh[b])
            worst = max(worst, j)
            assert j <= 0.5, (a, b, j)
    for x in chats["near_duplicates"]:
        assert x["word3_jaccard"] >= 0.8, x
    # structural defects match the plan exactly
    cons = {x["id"] for x in chats["consecutive_same_speaker"]}
    assert cons == set(map(cid, CONSEC)) | {cid(112)}, cons ^ (set(map(cid, CONSEC)) | {cid(112)})
    assert sum(x["id"] != cid(112) for x in chats["consecutive_same_speaker"]) == 20
    ends_c = {c["id"] for c in convs.values() if c["messages"][-1]["speaker"] == "customer"}
    assert ends_c == set(map(cid, TRAILING + NO_AGENT)), ends_c
    no_agent = {c["id"] for c in convs.values() if not any(m["speaker"] == "agent" for m in c["messages"])}
    assert no_agent == set(map(cid, NO_AGENT))
    empty = {c["id"] for c in convs.values() for m in c["messages"] if not m["text"].strip()}
    assert empty == set(map(cid, EMPTY)), empty
    unknown = {c["id"] for c in convs.values() for m in c["messages"] if m["speaker"] not in ("system", "customer", "agent")}
    assert unknown == set(map(cid, SUPERVISOR))
    # odd text only where planted
    where = lambda pred: {c["id"] for c in convs.values() if any(pred(m["text"]) for m in c["messages"])}
    assert where(lambda t: "<|endoftext|>" in t) == {cid(SPECIAL_TOKEN)}
    assert where(lambda t: "\x07" in t) == {cid(BELL)}
    assert where(lambda t: "\r" in t) == {cid(CRLF)}
    assert where(lambda t: "Ã" in t) == {cid(MOJIBAKE)}
    assert where(lambda t: "As an AI" in t or "as an AI" in t) == set(map(cid, REFUSAL))
    # PII only where planted
    expect = {cid(n): "email" for n in PII_EMAIL}
    pii_ids = {}
    for p in chats["pii"]:
        pii_ids.setdefault(p["kind"], set()).add(p["id"])
    assert pii_ids.get("email") == set(map(cid, PII_EMAIL)), pii_ids.get("email")
    assert pii_ids.get("phone") == set(map(cid, list(PII_PHONE) + list(PII_PHONE_DE))), pii_ids.get("phone")
    assert pii_ids.get("card") == set(map(cid, PII_CARD)), pii_ids.get("card")
    assert pii_ids.get("iban") == set(map(cid, list(PII_IBAN) + list(PII_IBAN_DE))), pii_ids.get("iban")
    assert pii_ids.get("ip") == set(map(cid, PII_IP)), pii_ids.get("ip")
    assert pii_ids.get("api_key") == {cid(API_KEY)} and pii_ids.get("aws_access_key") == {cid(AWS_KEY)}
    del expect
    for v in list(PII_CARD.values()):
        assert luhn_ok(v.replace(" ", ""))
    for v in list(PII_IBAN.values()) + list(PII_IBAN_DE.values()):
        assert iban_ok(v)
    # non-English characters only in the foreign-language conversations (and the mojibake one)
    foreign = set(map(cid, GERMAN + SPANISH + MIXED_DE_EN + [MOJIBAKE]))
    assert where(lambda t: re.search(r"[äöüßÄÖÜñ¿¡áíóúÁ]", t) is not None) <= foreign
    # the huge message
    assert chats["over_token_limit"][0]["chars"] >= 400_000
    # faq / escalations
    assert len(faq) == 120 and len(esc) == N_ESC
    e = {r["ticket_id"]: r["messages"] for r in esc}
    assert e[f"ESC-26-{ESC_ENDS_USER:04d}"][-1]["role"] == "user"
    only = e[f"ESC-26-{ESC_SYSTEM_USER_ONLY:04d}"]
    assert [x["role"] for x in only] == ["system", "user"]
    for tid, msgs in e.items():
        if tid not in (f"ESC-26-{ESC_ENDS_USER:04d}", f"ESC-26-{ESC_SYSTEM_USER_ONLY:04d}"):
            assert msgs[-1]["role"] == "assistant"
    # faq: only the planned duplicates are duplicates; everything else clearly distinct
    uniq = {}
    for r in faq:
        uniq.setdefault(r["id"], r)
    planned = {frozenset((f"faq-{a:04d}", f"faq-{b:04d}")) for a, b in FAQ_CONTENT_DUP.items()}
    ids = list(uniq)
    fsh = {k: shingles([uniq[k]["question"] or "", uniq[k]["answer"]]) for k in ids}
    worst_faq = 0.0
    for x in range(len(ids)):
        for y in range(x + 1, len(ids)):
            if frozenset((ids[x], ids[y])) in planned:
                continue
            worst_faq = max(worst_faq, jaccard(fsh[ids[x]], fsh[ids[y]]))
    assert worst_faq <= 0.6, worst_faq
    esh = [shingles(m["content"] for m in r["messages"] if m["role"] != "system") for r in esc]
    worst_esc = max(jaccard(esh[x], esh[y]) for x in range(len(esh)) for y in range(x + 1, len(esh)))
    assert worst_esc <= 0.75, worst_esc
    return worst, worst_faq, worst_esc


# ---------------------------------------------------------------------------
# README
# ---------------------------------------------------------------------------
def readme(man: dict, stats: dict) -> str:
    c = man["support_chats.csv"]
    f = man["faq_pairs.parquet"]
    e = man["escalations.parquet"]
    j = lambda xs: ", ".join(f"`{x}`" for x in xs)
    L = []
    a = L.append
    a("# data/sample: small raw customer-support dataset\n")
    a("Everything here is generated by `generate.py` (run `.venv/bin/python data/sample/generate.py` from the repo "
      "root; deterministic, seed `20261121`, stdlib + polars only). **Do not edit the data files or this README by hand**; "
      "change the generator and re-run it. All text was written for this project: the company (\"Northwind Mobile\", a "
      "mobile/broadband provider with an online store) is fictional and all personal data is fake.\n")
    a("`defects.json` is the machine-readable version of this document (same ids, plus turns, values and diffs); "
      "tests should prefer it. The generator re-checks every item below against the data before writing.\n")
    a("## Files\n")
    a("| file | layout | size |\n|---|---|---|")
    a(f"| `support_chats.csv` | messages: one row per message, columns `conversation_id,turn,speaker,text,channel` | "
      f"{stats['csv_records']} well-formed records in {c['conversations']} conversations + 3 malformed lines, {stats['csv_bytes']:,} bytes |")
    a(f"| `faq_pairs.parquet` | pairs: `id` str, `system` str?, `question` str?, `context` str?, `answer` str, `product` str | {f['rows']} rows |")
    a(f"| `escalations.parquet` | conversations: `ticket_id` str, `messages` List(Struct{{role: str, content: str}}), `priority` str | {e['rows']} rows |")
    a("| `defects.json` | manifest of planted defects | |\n")
    a("### support_chats.csv conventions\n")
    a("* UTF-8, no BOM, `\\n` record separator, RFC-4180 quoting (written with Python's `csv` module); "
      "cells contain commas, quotes and newlines.")
    a("* One cell (the pasted router log) is ~400 kB, larger than Python's default `csv.field_size_limit()` of 131,072: "
      "call `csv.field_size_limit(sys.maxsize)` (or at least 1,000,000) before reading with the `csv` module.")
    a("* `turn` is 1-based and is the only source of message order (some conversations are stored shuffled, see below). "
      "A leading `system` row, when present, has turn 1.")
    a(f"* `speaker` is `customer`, `agent` or `system` ({len(c['system_first_row'])} conversations start with a system row); "
      "two conversations also contain `supervisor`.")
    a(f"* `channel` is `chat`, `email` or `whatsapp` ({stats['channels']}). Email conversations have greetings/signatures with blank lines.")
    a(f"* Messages per conversation: 2 to 12 ({stats['lengths']}).\n")
    a("## Planted defects: support_chats.csv\n")
    a("| defect | where |\n|---|---|")
    a("| exact duplicate conversations (same channel and messages, new id) | " +
      ", ".join(f"`{x['id']}` = `{x['duplicate_of']}`" for x in c["exact_duplicates"]) + " |")
    a("| near duplicates (a word, a name, a digit or punctuation differs; J = word-trigram Jaccard with the source, "
      "1.0 means identical after lower-casing and dropping punctuation) | " +
      ", ".join(f"`{x['id']}` ~ `{x['near_duplicate_of']}` ({x['change']}, J={x['word3_jaccard']})" for x in c["near_duplicates"]) + " |")
    a(f"| German conversations | {j(c['language']['de'])} |")
    a(f"| Spanish conversations | {j(c['language']['es'])} |")
    a(f"| customer writes German, agent answers English | {j(c['language']['customer_de_agent_en'])} |")
    h = c["over_token_limit"][0]
    a(f"| message far over any token limit | `{h['id']}` turn {h['turn']} ({h['speaker']} pastes a router log, {h['chars']:,} characters, "
      f"well over 65,536 tokens) |")
    a("| empty / whitespace-only text | " + ", ".join(f"`{x['id']}` t{x['turn']} ({x['speaker']}, {json.dumps(x['text'])})" for x in c["empty_text"]) + " |")
    a("| consecutive same-speaker turns (20 planted runs + the no-agent chat) | " +
      ", ".join(f"`{x['id']}` {x['speaker']} t{'-'.join(map(str, (x['turns'][0], x['turns'][-1])))}" for x in c["consecutive_same_speaker"]) + " |")
    a("| unknown speaker label `supervisor` | " + ", ".join(f"`{x['id']}` t{x['turn']}" for x in c["unknown_speaker"]) + " |")
    a(f"| ends with a customer turn after the last agent answer | {j(c['trailing_customer_after_agent'])} |")
    a(f"| no agent message at all | {j(c['no_agent_message'])} (the second is system + customer) |")
    a("| rows stored out of order (sort by `turn`) | " + ", ".join(
        f"`{k}` file order {v}" for k, v in c["rows_out_of_order"]["file_order_of_turns"].items()) + "; additionally " + ", ".join(
        f"`{k}` turns {v['turns_moved']} are stored after `{v['placed_after']}`'s rows" for k, v in c["rows_out_of_order"]["rows_moved_elsewhere"].items()) + " |")
    by_kind = {}
    for p in c["pii"]:
        by_kind.setdefault(p["kind"], []).append(p)
    for kind, ps in by_kind.items():
        a(f"| fake PII: {kind} | " + ", ".join(f"`{p['id']}` t{p['turn']} `{p['value']}`" for p in ps) + " |")
    hp = c["pii_in_huge_log"]
    a(f"| fake PII inside the huge log | `{hp['id']}` t{hp['turn']}: {hp['count']} matches ({', '.join(hp['kinds'])}; private 192.168.1.x, 198.51.100.x, 203.0.113.x) |")
    a("| unsafe content | " + ", ".join(f"`{x['id']}` t{x['turn']} ({x['kind']})" for x in c["unsafe"]) + " |")
    q = c["quality"]
    a("| refusal boilerplate agent reply (\"As an AI language model...\") | " + ", ".join(f"`{x['id']}` t{x['turn']}" for x in q["refusal"]) + " |")
    a("| agent reply identical to the preceding customer message | " + ", ".join(f"`{x['id']}` t{x['turn']}" for x in q["echo"]) + " |")
    a("| one-word agent reply (`ok`) | " + ", ".join(f"`{x['id']}` t{x['turn']}" for x in q["one_word"]) + " |")
    a("| heavy repetition (one sentence x30) | " + ", ".join(f"`{x['id']}` t{x['turn']}" for x in q["repetition"]) + " |")
    o = c["odd_text"]
    a("| literal special token `<\\|endoftext\\|>` | " + ", ".join(f"`{x['id']}` t{x['turn']}" for x in o["special_token"]) + " |")
    a("| control character `\\x07` (bell) | " + ", ".join(f"`{x['id']}` t{x['turn']}" for x in o["bell"]) + " |")
    a("| CRLF line endings inside the text | " + ", ".join(f"`{x['id']}` t{x['turn']}" for x in o["crlf"]) + " |")
    a("| mojibake (`CafÃ© rÃ©servation`, `MontrÃ©al`) | " + ", ".join(f"`{x['id']}` t{x['turn']}" for x in o["mojibake"]) + " |")
    r = c["empty_conversation_id_row"]
    a(f"| row with empty `conversation_id` | record {r['record_index']} (file line {r['line']}), right after `{r['placed_after']}`'s rows: turn 3, customer, \"{r['text']}\" |")
    for x in c["malformed_trailing_lines"]:
        a(f"| malformed line {x['line']} (written raw at the end) | {x['problem']}: `{x['content']}` |")
    a("")
    a("Notes: the malformed lines are the last three lines of the file, so a strict parser fails only there "
      "(`csv.reader` parses them as rows with 7 / 3 / 5 fields; polars needs `truncate_ragged_lines=True` or similar). "
      f"The ids {j(c['malformed_ids'])} appear nowhere else. Apart from the planted pairs, no two conversations have a "
      f"word-trigram Jaccard similarity above {stats['worst_unplanned_similarity']:.2f}.\n")
    a("## Planted defects: faq_pairs.parquet\n")
    a("| defect | rows |\n|---|---|")
    a("| empty answer | `faq-0037` (`\"\"`), `faq-0089` (whitespace) |")
    a(f"| null question | {j(f['null_question'])} |")
    a(f"| German pair | {j(f['german'])} |")
    a("| content duplicates under a new id | " + ", ".join(f"`{x['id']}` = `{x['duplicate_of']}`" for x in f["content_duplicates_new_id"]) + " |")
    a("| fully identical rows (same id twice) | " + ", ".join(f"`{x['id']}` at row indices {x['row_indices']}" for x in f["identical_rows_same_id"]) + " |")
    a(f"\n`system` is null in {f['null_system_rows']} rows and `context` is null in {f['null_context_rows']} rows (by design, not defects). "
      f"Apart from the planned duplicates, no two rows have a question+answer word-trigram Jaccard above {stats['worst_unplanned_similarity_faq']:.2f}.\n")
    a("## Planted defects: escalations.parquet\n")
    a("| defect | ticket |\n|---|---|")
    a(f"| conversation ends with a user turn | {j(e['ends_with_user'])} |")
    a(f"| system + user only, no assistant | {j(e['system_and_user_only'])} |")
    a(f"\n{len(e['without_system_message'])} tickets have no system message (normal). Priorities: {stats['priorities']}. "
      f"Tickets on the same topic share wording; the highest pairwise word-trigram Jaccard is {stats['worst_similarity_escalations']:.2f}.\n")
    return "\n".join(L) + "\n"


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------
def main() -> None:
    rng = random.Random(SEED)
    convs, near_info, conv_retries = build_conversations(rng)
    records, row_info = csv_rows(convs, rng)
    line_index, malformed, csv_bytes = write_csv(records, OUT / "support_chats.csv")
    check_csv_roundtrip(records, OUT / "support_chats.csv")

    faq, faq_retries = build_faq(rng)
    faq_df = pl.DataFrame(faq, schema={"id": pl.Utf8, "system": pl.Utf8, "question": pl.Utf8, "context": pl.Utf8,
                                       "answer": pl.Utf8, "product": pl.Utf8}, orient="row")
    faq_df.write_parquet(OUT / "faq_pairs.parquet")

    esc, esc_retries = build_escalations(rng)
    esc_df = pl.DataFrame(
        {"ticket_id": [r["ticket_id"] for r in esc], "messages": [r["messages"] for r in esc],
         "priority": [r["priority"] for r in esc]},
        schema={"ticket_id": pl.Utf8, "messages": pl.List(pl.Struct({"role": pl.Utf8, "content": pl.Utf8})),
                "priority": pl.Utf8})
    esc_df.write_parquet(OUT / "escalations.parquet")

    manifest = build_manifest(convs, near_info, row_info, line_index, records, malformed, faq, esc)
    worst, worst_faq, worst_esc = verify(convs, manifest, faq, esc)
    lengths = {}
    for cv in convs.values():
        lengths[len(cv["messages"])] = lengths.get(len(cv["messages"]), 0) + 1
    chans = {}
    for cv in convs.values():
        chans[cv["channel"]] = chans.get(cv["channel"], 0) + 1
    pri = {}
    for r in esc:
        pri[r["priority"]] = pri.get(r["priority"], 0) + 1
    stats = {"csv_records": len(records), "csv_bytes": csv_bytes, "worst_unplanned_similarity": worst,
             "worst_unplanned_similarity_faq": worst_faq, "worst_similarity_escalations": worst_esc,
             "lengths": ", ".join(f"{k} msgs: {v}" for k, v in sorted(lengths.items())),
             "channels": ", ".join(f"{k}: {v}" for k, v in sorted(chans.items())),
             "priorities": ", ".join(f"{k}: {v}" for k, v in sorted(pri.items()))}
    manifest["stats"] = {**stats, "generation_retries": {"conversations": conv_retries, "faq": faq_retries,
                                                         "escalations": esc_retries}}
    (OUT / "defects.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (OUT / "README.md").write_text(readme(manifest, stats), encoding="utf-8")
    print(f"support_chats.csv: {len(records)} records, {N_CONV} conversations, {csv_bytes:,} bytes")
    print(f"faq_pairs.parquet: {faq_df.height} rows; escalations.parquet: {esc_df.height} rows")
    print(f"retries: conv={conv_retries} faq={faq_retries} esc={esc_retries}; worst unplanned similarity={worst:.3f}")


if __name__ == "__main__":
    main()
