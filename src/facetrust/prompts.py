"""FLIP's class prompts (DESIGN §3), six per class: standard library only, shared by the FLIP model
and the task table."""

FLIP_NEGATIVE_PROMPTS = (
    "This is an example of a spoof face",
    "This is an example of an attack face",
    "This is not a real face",
    "This is how a spoof face looks like",
    "a photo of a spoof face",
    "a printout shown to be a spoof face",
)
FLIP_POSITIVE_PROMPTS = (
    "This is an example of a real face",
    "This is a bonafide face",
    "This is a real face",
    "This is how a real face looks like",
    "a photo of a real face",
    "This is not a spoof face",
)
