"""The offline stand-in model: search first, extract, or say nothing relevant was found."""

from __future__ import annotations

import json

TOOLS = [{"type": "function", "function": {"name": "search_handbook", "parameters": {"type": "object"}}}]
RESULTS = json.dumps(
    {
        "results": [
            {
                "source": "01_leave.md",
                "heading": "Annual leave",
                "content": "Every full-time employee receives 27 days of paid annual leave "
                "per calendar year. Leave accrues monthly.",
            },
            {
                "source": "03_travel.md",
                "heading": "Hotels",
                "content": "Hotel costs are reimbursed up to 180 euros.",
            },
        ]
    }
)


HOME_OFFICE = json.dumps(
    {
        "results": [
            {
                "source": "02_remote_work.md",
                "heading": "Home office",
                "content": "If you live far from an office, you may use a coworking space twice a week.",
            }
        ]
    }
)
DOGS = json.dumps(
    {
        "results": [
            {"source": "pets.md", "heading": "Dogs", "content": "Dogs are welcome in the office on Fridays."}
        ]
    }
)


def test_first_step_calls_the_search_tool_with_the_question() -> None:
    from spanguard.pipeline.offline_model import decide

    messages = [{"role": "system", "content": "x"}, {"role": "user", "content": "Annual leave?"}]
    decision = decide(messages, TOOLS)
    assert decision.tool_name == "search_handbook"
    assert json.loads(decision.tool_arguments or "") == {"query": "Annual leave?"}


def test_answers_extractively_with_sources() -> None:
    from spanguard.pipeline.offline_model import decide

    messages = [
        {"role": "user", "content": "How many days of annual leave?"},
        {"role": "assistant", "content": None, "tool_calls": []},
        {"role": "tool", "tool_call_id": "c1", "content": RESULTS},
    ]
    decision = decide(messages, TOOLS)
    assert decision.tool_name is None
    assert decision.content is not None
    assert decision.content.startswith("Every full-time employee receives 27 days")
    assert "Hotel" not in decision.content
    assert decision.content.endswith("Sources: 01_leave.md § Annual leave")


def test_says_plainly_when_nothing_is_relevant() -> None:
    from spanguard.pipeline.offline_model import NOTHING_FOUND, extractive_answer

    assert extractive_answer("What is the capital of Australia?", [RESULTS]) == NOTHING_FOUND
    assert extractive_answer("???", [RESULTS]) == NOTHING_FOUND
    assert extractive_answer("annual leave", []) == NOTHING_FOUND
    # one shared word out of three is not relevance ("office"), two out of three is
    assert extractive_answer("Can I bring my dog to the office?", [HOME_OFFICE]) == NOTHING_FOUND
    assert extractive_answer("Can I bring my dog to the office?", [DOGS]).startswith("Dogs are welcome")


def test_contact_details_do_not_dilute_the_question() -> None:
    from spanguard.pipeline.offline_model import extractive_answer

    answer = extractive_answer(
        "How much annual leave? Reply to ann.other@example.com or https://x.example/y", [RESULTS]
    )
    assert answer.startswith("Every full-time employee receives 27 days")


def test_registered_with_litellm_sync_async_and_streaming() -> None:
    import asyncio

    from spanguard.pipeline.llm_client import import_litellm
    from spanguard.pipeline.offline_model import MODEL_NAME

    litellm = import_litellm()
    messages = [
        {"role": "user", "content": "How many days of annual leave?"},
        {"role": "tool", "tool_call_id": "c1", "content": RESULTS},
    ]
    reply = litellm.completion(model=MODEL_NAME, messages=messages)
    assert "27 days" in reply.choices[0].message.content
    assert reply.usage.total_tokens > 0

    async def both() -> tuple[str, str]:
        plain = await litellm.acompletion(model=MODEL_NAME, messages=messages)
        stream = await litellm.acompletion(model=MODEL_NAME, messages=messages, stream=True)
        pieces = [chunk.choices[0].delta.content or "" async for chunk in stream]
        return plain.choices[0].message.content, "".join(pieces)

    plain, streamed = asyncio.run(both())
    assert plain == streamed == reply.choices[0].message.content
    chunks = list(litellm.completion(model=MODEL_NAME, messages=messages[:1], tools=TOOLS, stream=True))
    rebuilt = litellm.stream_chunk_builder(chunks).choices[0].message
    assert rebuilt.tool_calls[0].function.name == "search_handbook"


# the handbook's own topics, asked the way people write, with personal details around them
HANDBOOK_QUESTIONS = {
    "How do I file travel expenses?": "Submit expenses in the expenses tool within 60 days",
    "Hi, I'm Max Mustermann (max.mustermann@example.org, +49 170 1234567). How do I file travel "
    "expenses?": "Submit expenses in the expenses tool within 60 days",
    "My IBAN is DE89 3704 0044 0532 0130 00 and I am Erika Musterfrau. How many vacation days do I "
    "get?": "Every full-time employee receives 27 days of paid annual leave",
    "Card 4111 1111 1111 1111, call me at (030) 1234-5678. Can I work from another country?": (
        "You may work from another country for up to 30 working days"
    ),
    "What is the hotel limit in London? [REDACTED:email] asked.": "Hotel costs are reimbursed",
    "How do I book a flight?": "Book all flights, trains and hotels through the company travel desk",
}


def test_answers_the_handbook_topics_with_pii_around_the_question(handbook_retriever: object) -> None:
    """The full loop over the bundled handbook: the search the model asks for, then its answer."""
    from spanguard.pipeline.offline_model import decide

    for question, expected in HANDBOOK_QUESTIONS.items():
        messages: list[dict[str, object]] = [{"role": "user", "content": question}]
        search = decide(messages, TOOLS)
        query = json.loads(search.tool_arguments or "")["query"]
        assert "@" not in query and "1234" not in query and "DE89" not in query, query
        found = handbook_retriever.retrieve(query, 4)  # type: ignore[attr-defined]
        payload = json.dumps(
            {"results": [{"content": d.content, "source": d.metadata["source"]} for d in found]}
        )
        messages += [
            {"role": "assistant", "content": None},
            {"role": "tool", "tool_call_id": "c1", "content": payload},
        ]
        answer = decide(messages, TOOLS).content or ""
        assert answer.startswith(expected), (question, answer)
