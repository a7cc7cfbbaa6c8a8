from __future__ import annotations

import pytest

from wms2.sandbox.classify import classify
from wms2.sandbox.manifest import PostSpec
from wms2.sandbox.post import cooloff_seconds, job_exit


@pytest.mark.parametrize(
    ("code", "message", "tail", "category", "retryable"),
    [
        (0, "", "", "success", False),
        (8001, "cms::Exception", "", "permanent", False),
        (8001, "Unable to find site-local-config.xml", "", "infrastructure", True),
        (70, "", "", "permanent", False),
        (80, "", "", "permanent", False),
        (50664, "", "", "permanent", False),
        (8021, "", "", "data", False),
        (8028, "", "", "data", False),
        (50660, "", "", "memory", True),
        (8031, "", "", "memory", True),
        (8004, "", "", "memory", True),
        (8020, "", "", "infrastructure", True),
        (10005, "", "", "infrastructure", True),
        (60307, "", "", "infrastructure", True),
        (137, "", "", "transient", True),
        (139, "", "No space left on device", "infrastructure", True),
        (1, "", "gfal-copy: HTTP 403 Forbidden", "infrastructure", True),
        (1, "", "error: Permission denied", "infrastructure", True),
        (1, "", "stage-out failed", "infrastructure", True),
        (50115, "", "", "transient", True),
        (195, "", "", "transient", True),
        (12345, "", "all good here", "transient", True),
        (8021, "", "stage-out failed", "data", False),  # first match wins
    ],
)
def test_table(code: int, message: str, tail: str, category: str, retryable: bool) -> None:
    verdict = classify(code, message, tail)
    assert (verdict.category, verdict.retryable) == (category, retryable)


def test_cooloff_and_return_decoding() -> None:
    post = PostSpec(cooloff_base_s=60, cooloff_max_s=600)
    assert [cooloff_seconds(post, r) for r in range(6)] == [60, 120, 240, 480, 600, 600]
    assert job_exit(0) == (0, None)
    assert job_exit(-9) == (137, 9)
    assert job_exit(-11) == (139, 11)
    assert job_exit(85) == (85, None)
    assert job_exit(-1002) == (99303, None)
