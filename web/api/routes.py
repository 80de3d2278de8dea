"""The endpoints: `POST /v1/classify` (an image -> the worker's result) and `POST /v1/check` (an image and
its caption -> the moderation verdict, decided with the bot's own functions: `moderation.hashtags`
extracts the caption's hashtags, `moderation.verdict.precheck` skips the model when the caption cannot be
spam, `judge` decides from the worker's probabilities)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile

from moderation.hashtags import MAX_TEXT_CHARS, extract_hashtags, load_vocabulary
from moderation.verdict import MIN_HASHTAGS_RANGE, ModerationSettings, Sensitivity, judge, precheck
from web.api import jobs
from web.api.auth import KeyedRoute, limited_key
from web.api.errors import error_responses, image_error
from web.api.schemas import Check, Classification, check, classification
from web.api.state import api_settings, redis_client
from worker.contract import ClassifyResult, ErrorCode

DEFAULT_MODERATION = ModerationSettings(enabled=True)

router = APIRouter(
    prefix="/v1",
    tags=["API"],
    route_class=KeyedRoute,
    dependencies=[Depends(limited_key)],  # every endpoint: a valid key within its rate limit
    responses=error_responses(401, 413, 415, 422, 429, 500, 503, 504),
)

Image = Annotated[
    UploadFile,
    File(description="The photo (JPEG, PNG, WebP or GIF), at most API_MAX_UPLOAD_BYTES. The model sees a "
         "centre square of its input side (260 px for the shipped model): send the smallest copy whose short "
         "side reaches it (from Telegram: the smallest PhotoSize whose width and height both do, else the "
         "largest); more pixels only cost upload, queue and decoding."),
]


async def read_image(request: Request, image: UploadFile) -> bytes:
    """The upload's bytes, or 413 past the limit (the whole body was bounded while it streamed, with room
    for the form around the image: `web.limits`, `ApiSettings.api_max_body_bytes`)."""
    limit = api_settings(request).api_max_upload_bytes
    if image.size is not None and image.size > limit:
        raise image_error(ErrorCode.TOO_LARGE)
    data = await image.read()
    if len(data) > limit:
        raise image_error(ErrorCode.TOO_LARGE)
    return data


async def classified(request: Request, data: bytes) -> ClassifyResult:
    """The worker's classification, or the error it stands for (4xx for a bad image)."""
    timeout_s = api_settings(request).api_request_timeout_seconds
    result = await jobs.classify(redis_client(request), data, timeout_s)
    if not result.ok:
        raise image_error(result.error)
    return result


@router.post("/classify", summary="Suggest the scene hashtag for a photo")
async def classify_photo(request: Request, image: Image) -> Classification:
    """Classify the photo with the serving model, through the same queue and worker as the bot.
    `suggested` is null when no popular hashtag fits (the model abstains rather than guess)."""
    return classification(await classified(request, await read_image(request, image)))


@router.post("/check", summary="Check a photo's caption hashtags for spam")
async def check_photo(
    request: Request,
    *,
    image: Image,
    caption: Annotated[str, Form(max_length=MAX_TEXT_CHARS, description="The caption, with its hashtags.")],
    sensitivity: Annotated[Sensitivity, Form(description="How readily to call it spam.")] = (
        DEFAULT_MODERATION.sensitivity
    ),
    min_hashtags: Annotated[
        int, Form(ge=MIN_HASHTAGS_RANGE[0], le=MIN_HASHTAGS_RANGE[-1],
                  description="Captions with fewer hashtags are never spam.")
    ] = DEFAULT_MODERATION.min_hashtags,
) -> Check:
    """Decide, as the bot does in a group with moderation on, whether the caption's hashtags contradict
    what the photo shows. A caption with fewer than `min_hashtags` hashtags is not judged and the photo
    is not classified."""
    data = await read_image(request, image)
    hashtags = extract_hashtags(caption)
    settings = ModerationSettings(enabled=True, sensitivity=sensitivity, min_hashtags=min_hashtags)
    early = precheck(hashtags, settings)
    if early is not None:
        return check(hashtags, early, settings, None)
    result = await classified(request, data)
    verdict = judge(hashtags, load_vocabulary().scene_tags, result.probabilities, settings)
    return check(hashtags, verdict, settings, result)
