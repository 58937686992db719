"""Stages: what happens to a batch between a front door and durable delivery.

checks and transforms (``process``) → rate limits (``ratelimit``) → records (``batcher``),
each holding the next behind the one method of ``stage.Stage``; ``pipeline`` assembles them.
"""
