"""utils.data: vocabularies, seeded sequence tasks, padding and batching, the date task, symbol streams."""

import datetime as dt

import pytest
import torch

from utils.data import (
    DATE_FORMATS,
    SOURCE_CHARS,
    TARGET_CHARS,
    TARGET_SPANS,
    Batch,
    BucketBatches,
    Vocab,
    collate,
    first_symbol_streams,
    format_date,
    iterate_batches,
    make_date_task,
    make_sequence_task,
)


# ---------------------------------------------------------------------------- vocabulary
def test_vocab_specials_come_first_and_duplicates_are_ignored():
    v = Vocab(["b", "a", "b"])
    assert v.itos[:4] == ["<pad>", "<sos>", "<eos>", "<unk>"]
    assert (v.pad_id, v.sos_id, v.eos_id, v.unk_id) == (0, 1, 2, 3)
    assert len(v) == 6 and v.stoi["b"] == 4 and v.stoi["a"] == 5


def test_vocab_encode_decode_round_trip_and_unknown():
    v = Vocab(list("abc"))
    ids = v.encode(list("cab"), sos=True, eos=True)
    assert ids == [1, 6, 4, 5, 2]
    assert v.decode(ids) == list("cab")
    assert v.encode(["z"]) == [v.unk_id]
    assert v.decode([4, 2, 5]) == ["a"]  # stops at <eos>
    assert v.decode(torch.tensor([0, 4, 0]), strip=False) == ["<pad>", "a", "<pad>"]


# ---------------------------------------------------------------------------- tasks
@pytest.mark.parametrize("kind", ["copy", "reverse", "sort"])
def test_sequence_tasks_are_seeded_and_correct(kind):
    pairs, vocab = make_sequence_task(kind, 50, 3, 9, n_symbols=5, seed=7)
    again, _ = make_sequence_task(kind, 50, 3, 9, n_symbols=5, seed=7)
    other, _ = make_sequence_task(kind, 50, 3, 9, n_symbols=5, seed=8)
    assert pairs == again and pairs != other
    assert len(vocab) == 4 + 5
    for src, tgt in pairs:
        assert 3 <= len(src) <= 9 and set(src) <= set("abcde")
        expected = {"copy": src, "reverse": src[::-1], "sort": sorted(src)}[kind]
        assert tgt == expected
    assert {len(s) for s, _ in pairs} == set(range(3, 10))  # the whole range is drawn


def test_equal_tokens_lengths_favour_short_sources():
    uniform, _ = make_sequence_task("reverse", 4000, 4, 40, seed=3)
    equal, _ = make_sequence_task("reverse", 4000, 4, 40, seed=3, lengths="equal_tokens")
    count = lambda pairs, n: sum(len(s) == n for s, _ in pairs)
    assert count(equal, 4) > 4 * count(equal, 40)  # p ∝ 1/length: ten times as likely
    assert 0.5 < count(uniform, 4) / count(uniform, 40) < 2
    tokens = lambda pairs, lo, hi: sum(len(s) for s, _ in pairs if lo <= len(s) <= hi)
    assert 0.7 < tokens(equal, 4, 13) / tokens(equal, 31, 40) < 1.4  # about as many tokens of each
    assert all(t == s[::-1] for s, t in equal)
    with pytest.raises(ValueError, match="lengths"):
        make_sequence_task("copy", 5, 1, 3, lengths="zipf")


def test_sequence_task_rejects_bad_arguments():
    with pytest.raises(ValueError, match="kind"):
        make_sequence_task("shuffle", 5, 1, 3)
    with pytest.raises(ValueError, match="min_len"):
        make_sequence_task("copy", 5, 4, 3)
    with pytest.raises(ValueError, match="n_symbols"):
        make_sequence_task("copy", 5, 1, 3, n_symbols=30)


# ---------------------------------------------------------------------------- batching
def test_collate_pads_and_records_lengths():
    v = Vocab(list("ab"))
    batch = collate([(list("ab"), list("ba")), (list("a"), list("abb"))], v, v)
    assert isinstance(batch, Batch)
    assert batch.src.tolist() == [[4, 5], [4, 0]]
    assert batch.src_lengths.tolist() == [2, 1]
    assert batch.tgt_in.tolist() == [[1, 5, 4, 0], [1, 4, 5, 5]]
    assert batch.tgt_out.tolist() == [[5, 4, 2, 0], [4, 5, 5, 2]]
    assert batch.tgt_lengths.tolist() == [3, 4]
    # padding is exactly what lies beyond each length
    for row, n in zip(batch.tgt_out, batch.tgt_lengths):
        assert (row[n:] == v.pad_id).all() and (row[:n] != v.pad_id).all()


def test_collate_rejects_empty_inputs():
    v = Vocab(list("ab"))
    with pytest.raises(ValueError):
        collate([], v, v)
    with pytest.raises(ValueError, match="at least one token"):
        collate([([], list("a"))], v, v)


def test_iterate_batches_covers_every_pair_once():
    pairs, v = make_sequence_task("copy", 23, 2, 6, seed=0)
    batches = list(iterate_batches(pairs, v, v, batch_size=5, seed=1))
    assert [b.src.shape[0] for b in batches] == [5, 5, 5, 5, 3]
    seen = sorted(tuple(v.decode(row)) for b in batches for row in b.src)
    assert seen == sorted(tuple(s) for s, _ in pairs)


def test_bucket_batches_hold_one_source_length_and_cover_everything():
    pairs, v = make_sequence_task("reverse", 200, 3, 12, seed=0)
    batches = BucketBatches(pairs, v, v, batch_size=8, seed=0)
    first = list(batches)
    assert len(first) == len(batches)
    for b in first:
        assert b.src_lengths.min() == b.src_lengths.max() == b.src.shape[1]  # nothing padded
        assert b.src.shape[0] <= 8
    seen = sorted(tuple(v.decode(row)) for b in first for row in b.src)
    assert seen == sorted(tuple(s) for s, _ in pairs)


def test_bucket_batches_are_seeded_reiterable_and_reshuffled():
    pairs, v = make_sequence_task("copy", 100, 2, 9, seed=0)

    def stream(seed, passes):
        b = BucketBatches(pairs, v, v, batch_size=4, seed=seed)
        return [[x.src.tolist() for x in b] for _ in range(passes)]

    a, b = stream(0, 2), stream(0, 2)
    assert a == b  # same seed, same stream
    assert a[0] != a[1]  # every pass is shuffled anew
    assert stream(1, 1)[0] != a[0]
    with pytest.raises(ValueError):
        BucketBatches([], v, v, 4)
    with pytest.raises(ValueError, match="batch_size"):
        BucketBatches(pairs, v, v, 0)


# ---------------------------------------------------------------------------- dates
def test_format_date_examples_and_spans():
    date = dt.date(2026, 11, 22)
    cases = {
        "{weekday} {d} {month} {yyyy}": "sunday 22 november 2026",
        "{dd}/{mm}/{yy}": "22/11/26",
        "{mon} {d}, {yyyy}": "nov 22, 2026",
        "{yyyy}-{mm}-{dd}": "2026-11-22",
        "{dth} of {month} {yyyy}": "22nd of november 2026",
    }
    for fmt, text in cases.items():
        got, spans = format_date(date, fmt)
        assert got == text
        assert set(spans) == {"year", "month", "day"}
    text, spans = format_date(dt.date(2003, 3, 1), "{dth} of {month} {yy}")
    assert text == "1st of march 03"
    assert spans == {"day": (0, 1), "month": (7, 12), "year": (13, 15)}


def test_format_date_rejects_bad_formats():
    with pytest.raises(ValueError, match="unknown field"):
        format_date(dt.date(2000, 1, 1), "{yyyy}-{mm}-{ddd}")
    with pytest.raises(ValueError, match="year, a month and a day"):
        format_date(dt.date(2000, 1, 1), "{mm}/{dd}")


def test_ordinals():
    texts = [format_date(dt.date(2001, 1, d), "{dth} {mon} {yyyy}")[0].split()[0]
             for d in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31)]
    assert texts == ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "31st"]


def test_date_task_targets_are_iso_and_spans_point_at_the_fields():
    task = make_date_task(600, seed=3)
    assert len(task.pairs) == len(task.spans) == len(task.formats) == 600
    assert set(task.formats) == set(DATE_FORMATS)  # every format is used
    for (src, tgt), spans in zip(task.pairs, task.spans):
        text, iso = "".join(src), "".join(tgt)
        date = dt.date.fromisoformat(iso)
        assert dt.date(1950, 1, 1) <= date <= dt.date(2049, 12, 31)
        assert set(text) <= set(SOURCE_CHARS) and set(iso) <= set(TARGET_CHARS)
        y, m, d = (text[a:b] for a, b in (spans["year"], spans["month"], spans["day"]))
        assert iso.endswith(f"-{int(d):02d}")
        assert int(y) == date.year % (100 if len(y) == 2 else 10_000)
        month = date.month
        assert m == f"{month:02d}" or m == str(month) or date.strftime("%B").lower().startswith(m)
        # the target spans name the same fields in the ISO string
        assert iso[slice(*TARGET_SPANS["year"])] == f"{date.year:04d}"
        assert iso[slice(*TARGET_SPANS["month"])] == f"{date.month:02d}"
        assert iso[slice(*TARGET_SPANS["day"])] == f"{date.day:02d}"


def test_date_task_is_seeded_and_unambiguous():
    a, b, c = make_date_task(300, seed=1), make_date_task(300, seed=1), make_date_task(300, seed=2)
    assert a.pairs == b.pairs and a.spans == b.spans and a.pairs != c.pairs
    # one source text never maps to two targets, over a large sample of every format
    seen = {}
    for src, tgt in make_date_task(20_000, seed=0).pairs:
        assert seen.setdefault("".join(src), tgt) == tgt


def test_date_task_vocabularies_know_every_character():
    task = make_date_task(500, seed=0)
    for src, tgt in task.pairs:
        assert task.src_vocab.unk_id not in task.src_vocab.encode(src)
        assert task.tgt_vocab.unk_id not in task.tgt_vocab.encode(tgt)
    batch = collate(task.pairs[:16], task.src_vocab, task.tgt_vocab)
    assert batch.tgt_out.shape == (16, 11)  # ten characters and <eos>
    with pytest.raises(ValueError):
        make_date_task(3, formats=[])
    with pytest.raises(ValueError):
        make_date_task(-1)


# ---------------------------------------------------------------------------- symbol streams
def test_first_symbol_streams_ask_for_the_first_symbol_everywhere():
    x, y = first_symbol_streams(50, 24, generator=0)
    assert x.shape == y.shape == (50, 24) and x.dtype == y.dtype == torch.long
    assert torch.equal(y, (x[:, :1] - 10).expand(50, 24))  # the class of x_0, at every position
    assert x[:, 0].min() >= 10 and x[:, 0].max() <= 19  # x_0 from the second alphabet
    assert x[:, 1:].min() >= 0 and x[:, 1:].max() <= 9  # the rest from the first
    assert y.min() >= 0 and y.max() <= 9
    assert len(x[:, 0].unique()) == 10 and len(x[:, 1:].unique()) == 10  # every symbol turns up
    y[0, 3] = -1  # the targets own their memory: no view that writes through to other rows
    assert (y[0, :3] != -1).all() and (y[1] != -1).all()


def test_first_symbol_streams_unmarked_and_other_alphabets():
    x, y = first_symbol_streams(40, 6, n_symbols=3, marked=False, generator=1)
    assert x.max() <= 2 and x.min() >= 0
    assert torch.equal(y, x[:, :1].expand(40, 6))
    marked, _ = first_symbol_streams(40, 6, n_symbols=3, generator=1)
    assert torch.equal(marked[:, 0], x[:, 0] + 3) and torch.equal(marked[:, 1:], x[:, 1:])  # same draws
    x, y = first_symbol_streams(5, 1, generator=0)  # a stream of one symbol: its own target
    assert x.shape == (5, 1) and torch.equal(y, x - 10)


def test_first_symbol_streams_are_seeded_and_deterministic():
    a = first_symbol_streams(8, 12, generator=7)
    b = first_symbol_streams(8, 12, generator=7)
    assert all(torch.equal(u, v) for u, v in zip(a, b))  # an int: the same streams every time
    assert not torch.equal(a[0], first_symbol_streams(8, 12, generator=8)[0])
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    first, second = first_symbol_streams(8, 12, generator=g1), first_symbol_streams(8, 12, generator=g1)
    assert not torch.equal(first[0], second[0])  # a generator advances: fresh streams every call
    assert torch.equal(first[0], first_symbol_streams(8, 12, generator=g2)[0])  # …from a seeded sequence
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    first_symbol_streams(8, 12)
    assert torch.equal(torch.rand(1), before)  # the global random state is left alone


def test_first_symbol_streams_name_bad_arguments():
    with pytest.raises(ValueError, match="n must be at least 1, got 0"):
        first_symbol_streams(0, 5)
    with pytest.raises(ValueError, match="length must be at least 1, got 0"):
        first_symbol_streams(3, 0)
    with pytest.raises(TypeError, match="length must be an int"):
        first_symbol_streams(3, 2.5)
    with pytest.raises(ValueError, match="n_symbols must be at least 2, got 1"):
        first_symbol_streams(3, 5, n_symbols=1)
    with pytest.raises(TypeError, match="generator must be a torch.Generator or an int seed, got str"):
        first_symbol_streams(3, 5, generator="0")
    with pytest.raises(TypeError, match="marked must be a bool"):
        first_symbol_streams(3, 5, marked=1)
