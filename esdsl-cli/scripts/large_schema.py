#!/usr/bin/env python3
"""Writes a large esdsl schema to stdout, for measuring `cargo esdsl check` and `generate` by
hand (issue 15, point 10). Not used by the test suite, which builds a moderate schema in memory.

    python3 esdsl-cli/scripts/large_schema.py 11800 > /tmp/large/schemas/large.toml

Events are spread over aggregates of 50 events; every third event has three versions (a widening
and a new optional field, then a new field with a default), every fifth uses a record type and an
enum.
"""
import sys

events = int(sys.argv[1]) if len(sys.argv) > 1 else 11800
per_aggregate = 50
out = []
for a in range((events + per_aggregate - 1) // per_aggregate):
    out.append(f'[aggregates.Agg{a}]\nid = "uuid"\n')
for t in range(max(1, events // 50)):
    out.append(f'[types.Rec{t}]\nstreet = "string"\nnumber = "u32"\n')
    out.append(f'[enums.Kind{t}]\nvariants = ["alpha", "beta", "gamma"]\n')
for e in range(events):
    a = e // per_aggregate
    out.append(f'[events.Event{e}]\naggregate = "Agg{a}"\ndoc = "Event number {e}."\n')
    out.append(f'[events.Event{e}.v1]\nname = "string"\ncount = "i32"\ntags = "list<string>"\n')
    if e % 5 == 0:
        t = e // 250
        out.append(f'where_ = "Rec{t}"\nkind = "Kind{t}"\n')
    if e % 3 == 0:
        out.append(f'[events.Event{e}.v2]\nname = "string"\ncount = "i64"\ntags = "list<string>"\nnote = "option<string>"\n')
        if e % 5 == 0:
            out.append(f'where_ = "Rec{t}"\nkind = "Kind{t}"\n')
        out.append(f'[events.Event{e}.v3]\nname = "string"\ncount = "i64"\ntags = "list<string>"\nnote = "option<string>"\nweight = {{ type = "u32", default = 1 }}\n')
        if e % 5 == 0:
            out.append(f'where_ = "Rec{t}"\nkind = "Kind{t}"\n')
sys.stdout.write("\n".join(out))
