"""The photo on Telegram's side: which copy of a message's photo to use, whether its file id is kept, and
downloading it."""

from __future__ import annotations

from telegram import Document, Message, PhotoSize

from ml.photo_sizes import fitting_size
from storage.models import Chat


def attachment_of(message: Message, input_side: int | None = None) -> PhotoSize | Document | None:
    """The smallest photo size whose short side reaches the model's `input_side` (the largest when none
    does, or without a side: what feedback keeps for training), or an image sent as a file (the worker
    downscales that as it decodes)."""
    if message.photo:
        return message.photo[fitting_size([(p.width, p.height) for p in message.photo], input_side)]
    return message.document


def kept_file_id(chat: Chat, message: Message) -> str | None:
    """The photo's file_id when its chat keeps photo ids (the opt-in in /settings), else None."""
    attachment = attachment_of(message)
    return attachment.file_id if chat.keep_photo_ids and attachment is not None else None


async def download(attachment: PhotoSize | Document) -> bytes:
    file = await attachment.get_file()
    return bytes(await file.download_as_bytearray())
