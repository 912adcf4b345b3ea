"""Hot topics: terms rising week over week, and groups of messages that say the same thing.

Pure functions over ``Message`` values (no database, deterministic): the caller loads the messages of the
week it asks about and of the week before; weeks are ISO weeks (Monday to Sunday) cut on the calendar
date of ``Message.at`` as given, so pass local times. Results are frozen dataclasses of plain values.

Terms are jieba words when jieba is installed, else every 2- to 4-character n-gram; a rising word is
grown into the longest phrase most of its messages share (景园 -> 伊景园滨河苑), since complaints are full of
estate and road names no dictionary knows. Words every complaint uses (问题, 小区, 希望 ...) and the
anonymised place codes of the public data (A市, A3区) are no terms.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import Final

from miniapp_api.clinic import textsim

__all__ = [
    "HotGroup",
    "Message",
    "TermTrend",
    "hot_groups",
    "latest_week",
    "rising_terms",
    "week_of",
]

USE_JIEBA = True
"""Cut words with jieba when it is installed (cleaner terms); False, or no jieba: character n-grams."""

_PLACE_CODE = re.compile(r"(?<![A-Za-zＡ-Ｚａ-ｚ])[A-ZＡ-Ｚ][0-9０-９]{0,2}[市区县]")
_CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
# A term never starts or ends with these (particles, pronouns, measure words, verbs of asking).
_EDGE_STOP: Final = frozenset(
    "的了是在和与及或也都就还而被把将对向从于为以之其这那个些吗呢吧啊呀么着过很太更最又再才已并且但却如若因所此该"
    "各每等们我你他她它您有要会能可请让给到上中里后时日月年号一"
)
# A term needs one bigram rarer than this frozen IDF: 问题, 小区, 希望, 领导 ... alone are no topic.
_COMMON_IDF: Final = 3.0
_MAX_TERM_CHARS: Final = 12
_TEXT_CHARS: Final = 800
# A phrase grows by a character when at least this share of its messages continue with it.
_GROW_SHARE: Final = 0.8
_SAMPLES: Final = 5
_RELATED: Final = 5
# A topic scoring below this is noise at a hundred messages a week.
_MIN_SCORE: Final = 1.5
# Summed bigram IDF from which a term counts as fully specific (about two rare bigrams).
_SPECIFIC: Final = 10.0
# Weight, in messages, of the term's rate among all complaints against the week before's rate.
_PRIOR: Final = 100.0
# Two rising n-grams are one topic when this share of the rarer one's messages hold the other too.
_SAME_MESSAGES: Final = 0.8
_LABEL_CHARS: Final = 40
# A group of one message counts for half: one voice, however liked, is not yet a topic.
_SINGLE_WEIGHT: Final = 0.5


@dataclass(frozen=True, slots=True)
class Message:
    """One citizen message. ``author`` (optional) lets a group count voices rather than re-posts."""

    id: int | str
    text: str
    at: datetime
    node: str = ""
    likes: int = 0
    dislikes: int = 0
    author: str = ""


@dataclass(frozen=True, slots=True)
class TermTrend:
    term: str
    count: int
    """Messages of the week that contain the term."""
    previous: int
    """Messages of the week before that contain it."""
    score: float
    """Rise of the voices (distinct authors) using the term, (now - expected) / sqrt(expected + 1), times its
    specificity (1 for names and phrases, less for a common word)."""
    sample_ids: tuple[int | str, ...]
    """Up to five messages of the week with the term, most liked first."""
    related: tuple[str, ...] = ()
    """Other rising n-grams of mostly the same messages (up to five)."""


@dataclass(frozen=True, slots=True)
class HotGroup:
    label: str
    """First line of the group's most typical message of the week, cut to 40 characters."""
    size: int
    """Messages of the week in the group."""
    previous: int
    """Messages of the week before that say the same thing."""
    change: int
    authors: int
    """Distinct voices of the week (messages without an author count one each)."""
    likes: int
    dislikes: int
    first_at: datetime
    last_at: datetime
    heat: float
    """voices x (1 + ln(1 + likes + dislikes)), halved for a single message."""
    ids: tuple[int | str, ...]
    """The week's messages, the most typical first, then by time."""


def week_of(day: date) -> date:
    """Monday of the ISO week of ``day`` (a datetime counts by its own calendar date)."""
    if isinstance(day, datetime):
        day = day.date()
    return day - timedelta(days=day.weekday())


def latest_week(messages: Iterable[Message], *, node: str | None = None) -> date | None:
    """Monday of the week of the newest message (under ``node``), None when there is none."""
    newest = max((m.at for m in _under(messages, node)), default=None)
    return None if newest is None else week_of(newest)


def rising_terms(
    messages: Sequence[Message],
    week: date | None = None,
    *,
    node: str | None = None,
    top: int = 20,
    min_count: int = 3,
) -> list[TermTrend]:
    """The ``top`` terms whose share of messages rose most from the week before ``week`` to ``week``.

    ``week`` is any day of the week (default: the latest week in the data); ``node`` keeps the messages whose
    ``node`` starts with it. A term needs ``min_count`` voices in the week (distinct authors; a message
    without one is its own voice). Rising terms found in mostly the same messages are one topic: it shows
    its most specific phrase (a name rather than 普通 or 强制), the others go to ``related``.
    """
    current, previous = _weeks(messages, week, node)
    if not current or top <= 0:
        return []
    now_texts = [_clean(m.text) for m in current]
    before_texts = [_clean(m.text) for m in previous]
    now_voice = _voice_keys(current)
    before_voice = _voice_keys(previous)
    usable: dict[str, bool] = {}
    now_holders = _holders(now_texts, usable)
    before_holders = _holders(before_texts, usable) if before_texts else {}
    n1, n0 = len(set(now_voice)), len(set(before_voice))

    def rise(gram: str, holders: Iterable[int], before: Iterable[int]) -> float:
        voices = len({now_voice[k] for k in holders})
        if voices < min_count:
            return 0.0
        z = _rise(gram, voices, len({before_voice[k] for k in before}), n1, n0)
        # A name or a phrase (伊景园滨河苑, 搅拌站) says more than a common word (强制, 普通) rising as much.
        return z * min(1.0, _information(gram) / _SPECIFIC)

    rising: list[tuple[float, str]] = []
    for gram, holders in now_holders.items():
        if len(holders) >= min_count:
            score = rise(gram, holders, before_holders.get(gram, ()))
            if score > 0:
                rising.append((score, gram))
    rising.sort(key=lambda sg: (-sg[0], -len(sg[1]), sg[1]))
    # Greedy topics: a term joins the first topic whose seed shares most of its messages.
    topics: list[tuple[frozenset[int], list[str]]] = []
    for _, gram in rising:
        holders = now_holders[gram]
        for seed, members in topics:
            if len(holders & seed) >= _SAME_MESSAGES * min(len(holders), len(seed)):
                members.append(gram)
                break
        else:
            if len(topics) < top:
                topics.append((holders, [gram]))
    trends: list[TermTrend] = []
    for seed, members in topics:
        # Shown: the most specific member found in at least half the seed's messages, grown into a phrase.
        best = max(members, key=lambda g: (len(now_holders[g]) * 2 >= len(seed), _information(g), -len(g), g))
        phrase = _grow(best, [now_texts[k] for k in sorted(now_holders[best])])
        having = [k for k, t in enumerate(now_texts) if phrase in t]
        before = [k for k, t in enumerate(before_texts) if phrase in t]
        score = rise(phrase, having, before)
        if score < _MIN_SCORE:
            continue
        samples = sorted(having, key=lambda k: (-current[k].likes, current[k].at.replace(tzinfo=None), k))
        related: list[str] = []
        for gram in members:
            if len(related) < _RELATED and gram not in phrase and not any(gram in r or r in gram for r in related):
                related.append(gram)
        trends.append(
            TermTrend(
                term=phrase,
                count=len(having),
                previous=len(before),
                score=round(score, 4),
                sample_ids=tuple(current[k].id for k in samples[:_SAMPLES]),
                related=tuple(related),
            )
        )
    trends.sort(key=lambda t: (-t.score, t.term))
    return trends


def hot_groups(
    messages: Sequence[Message],
    week: date | None = None,
    *,
    node: str | None = None,
    top: int = 10,
    threshold: float = textsim.SAME_THING,
) -> list[HotGroup]:
    """The ``top`` groups of messages of ``week`` that say the same thing, hottest first.

    Messages of the week and of the week before are grouped together (``textsim.group``), so a group also
    tells how many messages said the same the week before. ``week`` and ``node`` as in ``rising_terms``.
    """
    current, previous = _weeks(messages, week, node)
    if not current or top <= 0:
        return []
    window = previous + current
    in_week = [False] * len(previous) + [True] * len(current)
    groups = textsim.group([(k, m.text) for k, m in enumerate(window)], threshold)
    ranked: list[tuple[float, int, int, HotGroup]] = []
    for members in groups:
        now = sorted(k for k in members if in_week[k])  # the window is in time order
        if not now:
            continue
        typical = _most_typical([window[k].text for k in now])
        ordered = [now[typical]] + [k for k in now if k != now[typical]]
        voices = len({window[k].author for k in now if window[k].author}) + sum(1 for k in now if not window[k].author)
        likes = sum(max(0, window[k].likes) for k in now)
        dislikes = sum(max(0, window[k].dislikes) for k in now)
        heat = voices * (1.0 + math.log1p(likes + dislikes)) * (_SINGLE_WEIGHT if len(now) == 1 else 1.0)
        group = HotGroup(
            label=_label(window[now[typical]].text),
            size=len(now),
            previous=len(members) - len(now),
            change=2 * len(now) - len(members),
            authors=voices,
            likes=likes,
            dislikes=dislikes,
            first_at=window[now[0]].at,
            last_at=window[now[-1]].at,
            heat=round(heat, 4),
            ids=tuple(window[k].id for k in ordered),
        )
        ranked.append((-group.heat, -group.size, now[0], group))
    ranked.sort(key=lambda r: r[:3])
    return [r[3] for r in ranked[:top]]


def _under(messages: Iterable[Message], node: str | None) -> Iterable[Message]:
    return messages if not node else (m for m in messages if m.node.startswith(node))


def _weeks(messages: Sequence[Message], week: date | None, node: str | None) -> tuple[list[Message], list[Message]]:
    """The messages of the week and of the week before, each by time."""
    selected = list(_under(messages, node))
    start = week_of(week) if week is not None else latest_week(selected)
    if start is None:
        return [], []
    before = start - timedelta(days=7)
    end = start + timedelta(days=7)
    current = [m for m in selected if start <= m.at.date() < end]
    previous = [m for m in selected if before <= m.at.date() < start]
    return _by_time(current), _by_time(previous)


def _by_time(messages: list[Message]) -> list[Message]:
    # Ties on time go by id, so that the input order never changes a result.
    return sorted(messages, key=lambda m: (m.at.replace(tzinfo=None), type(m.id).__name__, str(m.id)))


def _clean(text: str) -> str:
    return _PLACE_CODE.sub(" ", text[:_TEXT_CHARS])


def _usable(gram: str) -> bool:
    if gram[0] in _EDGE_STOP or gram[-1] in _EDGE_STOP:
        return False
    return any(textsim.idf(gram[k : k + 2]) >= _COMMON_IDF for k in range(len(gram) - 1))


def _holders(texts: Sequence[str], usable: dict[str, bool]) -> dict[str, frozenset[int]]:
    """For each usable candidate term, the indexes of the texts that contain it."""
    cut = _word_cutter()
    found: dict[str, set[int]] = {}
    for index, text in enumerate(texts):
        grams = _candidates(text, cut)
        for gram in grams:
            ok = usable.get(gram)
            if ok is None:
                ok = usable[gram] = _usable(gram)
            if ok:
                found.setdefault(gram, set()).add(index)
    return {gram: frozenset(holders) for gram, holders in found.items()}


def _voice_keys(messages: Sequence[Message]) -> list[str]:
    """One key per voice: the author, or the message itself when it has none."""
    return [f"a:{m.author}" if m.author else f"m:{k}" for k, m in enumerate(messages)]


def _candidates(text: str, cut: Callable[[str], list[str]] | None) -> set[str]:
    """The words (jieba), or else every 2- to 4-character n-gram, of the Chinese runs of ``text``."""
    grams: set[str] = set()
    for run in _CJK_RUN.findall(text):
        if cut is None:
            for n in (2, 3, 4):
                grams.update(run[k : k + n] for k in range(len(run) - n + 1))
            continue
        grams.update(w for w in cut(run) if len(w) > 1)
    return grams


@cache
def _jieba() -> Callable[[str], list[str]] | None:
    try:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
    except Exception:  # jieba is optional; without it (or if it fails to load) the terms are n-grams
        return None

    def cut(text: str) -> list[str]:
        # Without HMM: twice as fast; the unknown names it splits are grown back into phrases anyway.
        words: list[str] = jieba.lcut(text, HMM=False)
        return words

    return cut


def _word_cutter() -> Callable[[str], list[str]] | None:
    return _jieba() if USE_JIEBA else None


def _information(gram: str) -> float:
    return sum(textsim.idf(gram[k : k + 2]) for k in range(len(gram) - 1))


def _rise(gram: str, count: int, before: int, n_now: int, n_before: int) -> float:
    """Poisson-style z of this week's count against the rate of the week before.

    The week before alone is a poor rate for a rare term (0 of 90 messages), so it is shrunk towards the
    term's rate among all complaints (from its rarest bigram's frozen IDF) as if that were _PRIOR messages.
    """
    background = math.exp(-max(textsim.idf(gram[k : k + 2]) for k in range(len(gram) - 1)))
    expected = (before + _PRIOR * background) / (n_before + _PRIOR) * n_now
    return (count - expected) / math.sqrt(expected + 1.0)


def _grow(gram: str, texts: list[str]) -> str:
    """Extend ``gram`` while most of the texts that hold it continue it with the same Chinese character."""
    phrase = gram
    need = _GROW_SHARE * len(texts)
    while len(phrase) < _MAX_TERM_CHARS and texts:
        grown = False
        for side in (1, -1):
            following: Counter[str] = Counter()
            for text in texts:
                at = text.find(phrase)
                k = at + len(phrase) if side == 1 else at - 1
                if 0 <= k < len(text) and _CJK_RUN.fullmatch(text[k]):
                    following[text[k]] += 1
            if not following:
                continue
            char, hits = min(following.items(), key=lambda kv: (-kv[1], kv[0]))
            if hits >= need:
                phrase = phrase + char if side == 1 else char + phrase
                texts = [t for t in texts if phrase in t]
                grown = True
        if not grown:
            break
    while len(phrase) > 2 and (phrase[0] in _EDGE_STOP or phrase[-1] in _EDGE_STOP):
        phrase = phrase[1:] if phrase[0] in _EDGE_STOP else phrase[:-1]
    return phrase


def _most_typical(texts: Sequence[str]) -> int:
    scores = textsim.centrality(texts)
    return max(range(len(texts)), key=lambda k: (scores[k], -k))


def _label(text: str) -> str:
    line = next((s.strip() for s in text.splitlines() if s.strip()), "")
    return line if len(line) <= _LABEL_CHARS else line[: _LABEL_CHARS - 1] + "…"
