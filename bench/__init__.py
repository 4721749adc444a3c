"""`make bench`: Handoff's performance figures next to floors measured in the same run.

See docs/performance.md for what each figure means and the latest numbers.
"""
