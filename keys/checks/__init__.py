"""Live checks: asking Canvas whether each key works, and acting on the answer.

- live_checks: one check (at hand-over, Check again, on demand) and the sweep that runs them.
- records: when each key is checked next, and what one answer writes (its record, then transitions).
- transitions: the state table, (state, answer) → (change, effects), that a reader holds against the docs.
- alerts: the emails an episode plans (failing, recovered, rejected, needs a fix, stuck).
"""
