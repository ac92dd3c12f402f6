"""Which images an ECR lifecycle policy expires, by AWS's documented evaluation rules.

ECR runs lifecycle policies inside the service; the emulator stores a policy but never runs it, so
the tests evaluate the stored text with the rules AWS documents
(docs.aws.amazon.com/AmazonECR/latest/userguide/LifecyclePolicies.html, "Lifecycle policy evaluation
rules", and lifecycle_policy_parameters.html):

- rules apply in rulePriority order, and an image is expired by exactly one or zero rules;
- an image that matches the tagging requirements of a higher-priority rule cannot be expired by a
  lower-priority rule, which still counts it as if it had not been expired;
- expiry is ordered by push time, oldest first: `imageCountMoreThan` keeps the newest N of the images
  it selects, `sinceImagePushed` expires those older than N days;
- `tagPrefixList` matches when every prefix matches one of the image's tags; `tagPatternList` (with
  `*` wildcards) likewise for every pattern.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fnmatch import fnmatchcase


@dataclass(frozen=True)
class Image:
    name: str
    pushed_days_ago: int
    tags: tuple[str, ...] = field(default=())


def _selects(selection: dict, image: Image) -> bool:
    status = selection["tagStatus"]
    if status == "any":
        return True
    if status == "untagged":
        return not image.tags
    prefixes = selection.get("tagPrefixList", [])
    patterns = selection.get("tagPatternList", [])
    return (
        bool(image.tags)
        and all(any(tag.startswith(prefix) for tag in image.tags) for prefix in prefixes)
        and all(any(fnmatchcase(tag, pattern) for tag in image.tags) for pattern in patterns)
    )


def expired(policy_text: str, images: list[Image]) -> set[str]:
    """The names of the images the policy expires."""
    rules = sorted(json.loads(policy_text)["rules"], key=lambda rule: rule["rulePriority"])
    claimed: set[str] = set()  # matched the tagging requirements of a higher-priority rule
    gone: set[str] = set()
    for rule in rules:
        selection = rule["selection"]
        selected = sorted((i for i in images if _selects(selection, i)), key=lambda i: i.pushed_days_ago)
        if selection["countType"] == "imageCountMoreThan":
            over = selected[selection["countNumber"] :]
        elif selection["countType"] == "sinceImagePushed":
            over = [i for i in selected if i.pushed_days_ago > selection["countNumber"]]
        else:
            raise ValueError(f"countType {selection['countType']} is not modelled here")
        if rule["action"]["type"] == "expire":
            gone |= {i.name for i in over if i.name not in claimed}
        claimed |= {i.name for i in selected}
    return gone
