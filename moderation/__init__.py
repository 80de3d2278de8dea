"""The hashtag-spam detector: caption hashtags, the vocabulary they map through, and the verdict.

A library in the spirit of tg-spam's `lib/`: pure Python over plain values (hashtags, tag
probabilities, a chat's settings), importing no Telegram, queue, database or model code, and nothing
from `bot`/`worker`; the bot converts Telegram types at its edge and calls in. Of `ml` it uses only
`ml.tags` (the label contract).
"""
