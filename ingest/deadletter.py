"""Dead letters: every rejected message, kept with its topic, payload and reason in the
store (:class:`store.base.DeadLetters`), where every ingest process on every host adds
to one shared list; and re-ingesting them after a fix."""

from __future__ import annotations

from dataclasses import dataclass

from store.base import DeadLetters, Store


@dataclass(frozen=True, slots=True)
class ReingestResult:
    stored: list[int]
    """Dead letters that now decode and were written (and removed from the dead letters)."""
    still_bad: list[tuple[int, str]]
    truncated: list[int]
    """Payloads kept only in part; they cannot be ingested again."""
    readings: int


async def reingest(
    letters_box: DeadLetters,
    ids: list[int],
    writer: Store,
    *,
    root: str,
    max_payload_bytes: int,
    max_readings: int,
) -> ReingestResult:
    """Decode dead letters again with the current code and write those that now pass.

    ``writer`` is an opened :class:`store.Store`. A letter is removed only after its
    readings are written; one that still fails keeps its new reason. Two operators
    re-ingesting one letter at once store its readings once: a reading is keyed by its
    machine and device time, so writing it twice replaces it with itself.
    """
    from telemetry.codec import DecodeError, decode

    letters = await letters_box.get(ids)
    stored: list[int] = []
    bad: list[tuple[int, str]] = []
    truncated: list[int] = []
    readings = 0
    for letter in letters:
        assert letter.id is not None
        if letter.truncated:
            truncated.append(letter.id)
            continue
        try:
            message = decode(
                letter.topic,
                letter.payload,
                root=root,
                max_payload_bytes=max_payload_bytes,
                max_readings=max_readings,
            )
        except DecodeError as exc:
            bad.append((letter.id, exc.reason))
            await letters_box.set_error(letter, exc.reason)
            continue
        n = await writer.write([message])
        readings += n
        await letters_box.remove([letter.id])
        stored.append(letter.id)
    return ReingestResult(stored, bad, truncated, readings)
