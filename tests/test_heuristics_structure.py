"""heuristics: structured answers are no repetition loops, degenerate replies still are, and complete short
answers to closed questions are no short_reply; unit cases, properties and one end-to-end run."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.stages.heuristics.repetition import classify_lines, repeated_line
from tests.test_heuristics import REPEATED, chat, decisions, run


def _pros_cons() -> str:
    tools = {"Notion": ("flexible pages and databases", "slow on large workspaces"),
             "Trello": ("simple kanban boards anyone can learn", "little reporting"),
             "Asana": ("timelines and workload views", "expensive per seat"),
             "Jira": ("deep issue tracking for software teams", "steep learning curve"),
             "ClickUp": ("many views in one tool", "busy interface")}
    parts = ["Here is a comparison of five project management tools for a small team."]
    for name, (pro, con) in tools.items():
        parts.append(f"#### {name}\n##### Pros\n- {pro.capitalize()}\n- Free plan for small teams\n"
                     f"##### Cons\n- {con.capitalize()}\n- Mobile app lags behind the web app")
    return "\n\n".join(parts + ["For most small teams Trello or Notion is the easiest start."])


SQL_TABLES = {"users": ["email (unique, not null)", "display_name (text)"],
              "products": ["title (text, not null)", "price_cents (integer)"],
              "orders": ["user_id (Foreign Key → users.id)", "status (pending / paid / shipped)"],
              "order_items": ["order_id (Foreign Key → orders.id)", "quantity (integer, > 0)"],
              "payments": ["order_id (Foreign Key → orders.id)", "provider (stripe / paypal)"],
              "addresses": ["user_id (Foreign Key → users.id)", "postcode (text)"],
              "reviews": ["product_id (Foreign Key → products.id)", "rating (1 to 5)"],
              "coupons": ["code (unique text)", "percent_off (integer)"],
              "shipments": ["order_id (Foreign Key → orders.id)", "tracking_number (text)"]}
SQL_SCHEMA_LIST = "A schema for a small web shop:\n\n" + "\n\n".join(
    f"**{table}**\n- id (Primary Key, integer, auto-increment)\n" + "\n".join(f"- {c}" for c in cols)
    + "\n- created_at (timestamp, default now)" for table, cols in SQL_TABLES.items())
SQL_SCHEMA_CODE = "```sql\n" + "\n\n".join(
    f"CREATE TABLE {table} (\n    id INTEGER PRIMARY KEY AUTOINCREMENT,\n    "
    + ",\n    ".join(c.split(" (")[0] + " TEXT" for c in cols)
    + ",\n    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP\n);" for table, cols in SQL_TABLES.items()) + "\n```"
CATS = {"Lion": "Panthera leo", "Tiger": "Panthera tigris", "Leopard": "Panthera pardus",
        "Jaguar": "Panthera onca", "Snow leopard": "Panthera uncia"}
TAXONOMY = "The big cats share most of their classification:\n\n" + "\n\n".join(
    f"### {name}\nKingdom: Animalia\nPhylum: Chordata\nClass: Mammalia\nOrder: Carnivora\nFamily: Felidae\n"
    f"Genus: Panthera\nSpecies: {species}" for name, species in CATS.items())
TAXONOMY_TABLE = ("| Animal | Kingdom | Phylum | Class | Species |\n|---|---|---|---|---|\n" + "\n".join(
    f"| {name} | Animalia | Chordata | Mammalia | {species} |" for name, species in CATS.items())
    + "\n\nAll five belong to the genus Panthera.")
CONFIDENCE = "I cannot know any of these yet, so here are my honest guesses:\n\n" + "\n\n".join(
    f"{k}. {q}\nAnswer: {a}\nConfidence: 0%" for k, (q, a) in enumerate([
        ("Who wins the 2031 Tour de France?", "no data"), ("Which film wins Best Picture in 2030?", "unknown"),
        ("What will bitcoin cost next May?", "impossible to say"), ("Who is the next UN secretary-general?",
                                                                    "not announced"),
        ("Will it rain in Lagos on 1 June 2029?", "no forecast exists")], 1))
SONG = """Here is a song about the harbour town, with a chorus:

[Verse 1]
The morning boats come sliding in
with salt and silver on their skin
my father waves from the harbour wall
and gulls are laughing over all

[Chorus]
Oh, we'll keep on dancing by the sea
where the lanterns burn for you and me
Oh, we'll keep on dancing by the sea
till the tide comes home to carry me

[Verse 2]
The market sings in seven tongues
of peppers, bread and fishing drums
my mother counts the coins by hand
and sweeps the night's wind off the sand

[Chorus]
Oh, we'll keep on dancing by the sea
where the lanterns burn for you and me
Oh, we'll keep on dancing by the sea
till the tide comes home to carry me

[Bridge]
And if I leave, I'll leave my heart
in the rope and tar and the harbour's dark

[Chorus]
Oh, we'll keep on dancing by the sea
where the lanterns burn for you and me
Oh, we'll keep on dancing by the sea
till the tide comes home to carry me"""
TESTS_CODE = "Tests for each endpoint:\n\n```python\n" + "\n\n".join(
    f"def test_{name}(client):\n    response = client.get('/{name}')\n"
    f"    self.assertEqual(response.status_code, 200)\n    assert response.json()['{key}']"
    for name, key in [("users", "items"), ("orders", "total"), ("health", "ok"), ("products", "items"),
                      ("cart", "lines"), ("search", "hits")]) + "\n```"
STRUCTURED = {"pros_cons_headings": _pros_cons(), "sql_schema_list": SQL_SCHEMA_LIST,
              "sql_schema_code": SQL_SCHEMA_CODE, "taxonomy_labels": TAXONOMY, "taxonomy_table": TAXONOMY_TABLE,
              "confidence_labels": CONFIDENCE, "song_chorus": SONG, "code_block": TESTS_CODE}

PARAGRAPH = ("I have checked your account and the payment went through.\n"
             "The refund will reach your card within five working days.\n")
DEGENERATE = {
    "sentence_loop": REPEATED,
    "paragraph_loop": "Thanks for waiting.\n\n" + (PARAGRAPH + "\n") * 5,
    "token_loop": "The answer is " + "and then " * 30,
    "numbered_line_loop": "\n".join(f"{k}. Restart your router and try again." for k in range(1, 8)),
    "label_loop": "Result:\n" + "Status: pending review\n" * 6,
    "code_line_loop": "```python\nimport os\n" + "from pathlib import Path\n" * 6 + "```",
    "alternating_lines": "Please hold on.\nThank you, sir.\n" * 5,
    "loop_under_headings": "## Steps\n" + "Open the app and tap Settings, then tap Reset network. " * 8,
}


@pytest.mark.parametrize("name", STRUCTURED)
def test_structured_answers_are_not_repetitive(name):
    text = STRUCTURED[name]
    assert decisions(run([chat("Please answer in detail.", text)])) == [(None, None)]


@pytest.mark.parametrize("name", DEGENERATE)
def test_degenerate_replies_are_still_caught(name):
    (reason, detail), = decisions(run([chat("My internet is down", DEGENERATE[name])]))
    assert reason == "repetitive_reply", (name, detail)


def test_repetition_details_say_what_repeats():
    (_, in_a_row), = decisions(run([chat("Hi", DEGENERATE["label_loop"])]))
    assert in_a_row == "message 2 (assistant): line 'Status: pending review' occurs 6 times in a row (max 4)"
    (_, spread), = decisions(run([chat("Hi", "Hold on, please.\nStill checking.\n" * 5)]))  # < 30 words
    assert spread == ("message 2 (assistant): line 'Hold on, please.' occurs 5 times and 8 of its 10 content "
                      "lines repeat an earlier one")


def test_lines_are_sorted_into_structure_and_content():
    text = "Intro line\n```py\nx: 1\n```\n# Title\n| a | b |\nKingdom: Animalia\n- Note: this value is a longer " \
           "sentence of prose with many words\n3. item"
    assert [(key, content) for _, key, content in classify_lines(text)] == [
        ("Intro line", True), ("```py", False), ("x: 1", False), ("```", False), ("# Title", False),
        ("| a | b |", False), ("Kingdom: Animalia", False),
        ("Note: this value is a longer sentence of prose with many words", True), ("item", True)]


@given(st.lists(st.text(alphabet="abcdefgh ", min_size=12, max_size=30).filter(lambda t: t.strip()), min_size=2,
                max_size=12, unique_by=lambda t: t.strip()),
       st.sampled_from(["Kingdom: Animalia", "##### Pros", "| Animalia | Chordata |", "Confidence: 0%"]))
def test_a_repeated_label_between_distinct_lines_is_no_loop(lines, label):
    text = "\n".join(f"{label}\n{line}" for line in lines)
    assert repeated_line(text, 2) is None


@given(st.text(), st.text(alphabet="abcdefgh .", min_size=10, max_size=30).filter(
    lambda t: len(t.strip()) >= 10 and any(c.isalpha() for c in t)), st.integers(5, 9))
def test_a_line_repeated_in_a_row_is_always_a_loop(prefix, line, times):
    assert repeated_line(prefix + "\n" + (line + "\n") * times, 5) is not None


CLOSED = [("Is it open on Sunday?", "No."), ("Is it open on Saturday?", "Yes."), ("Any fee for that?", "Nope"),
          ("Sind Sie sicher?", "Ja."), ("这个价格对吗？", "不。"), ("How many bags can I take?", "2"),
          ("Does it ship to Jakarta? ", "Ya")]


def test_short_complete_answers_to_closed_questions_pass():
    assert decisions(run([chat(q, a) for q, a in CLOSED])) == [(None, None)] * len(CLOSED)
    still_short = [chat("Thanks for the help", "No."), chat("Can I change my plan?", "ok"),
                   chat("Is it open on Sunday?", "Hm.")]
    assert [r for r, _ in decisions(run(still_short))] == ["short_reply"] * 3
    assert [r for r, _ in decisions(run([chat(*CLOSED[0])], closed_answers=[]))] == ["short_reply"]


def test_structure_closed_answers_and_loops_end_to_end(tmp_path, run_config):
    examples = [chat("Please answer in detail.", t) for t in STRUCTURED.values()]
    examples += [chat(q, a) for q, a in CLOSED]
    examples += [chat("My internet is down", t) for t in DEGENERATE.values()]
    path = tmp_path / "chats.jsonl"
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in examples), encoding="utf-8")
    result, out = run_config({"inputs": [{"path": str(path), "layout": "conversations"}],
                              "stages": [{"name": "heuristics"}, {"name": "export"}]})
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert sorted(r["source"]["rows"][0] for r in rejects) == list(
        range(len(STRUCTURED) + len(CLOSED) + 1, len(examples) + 1))
    assert {r["reason"] for r in rejects} == {"repetitive_reply"}
    rows = result.stats["rows"]
    assert rows["input"] == len(examples) == rows["exported"] + rows["rejected"]
