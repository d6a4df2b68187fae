"""Captions and questions about shapes-world scenes, from varied templates.

Colour and shape words are fixed (``red``, ``star``), so prompts such as "a red star" mean the
same thing at training and at zero-shot time; sizes and the sentence frames vary.
"""

from __future__ import annotations

import numpy as np

from training.shapes.world import COLORS, SHAPES, SIZES, ShapeObject

SIZE_WORDS: dict[str, tuple[str, ...]] = {
    "small": ("small", "little", "tiny"),
    "large": ("large", "big", "huge"),
}

CAPTIONS_WITH_SIZE: tuple[str, ...] = (
    "a {size} {color} {shape}",
    "a picture of a {size} {color} {shape}",
    "there is a {size} {color} {shape} in the image",
    "one {size} {color} {shape} on a plain background",
    "the {shape} is {color} and {size}",
    "a {color} {shape} that is {size}",
    "an image showing a {size} {color} {shape}",
    "{size} {color} {shape}",
)
CAPTIONS_WITHOUT_SIZE: tuple[str, ...] = (
    "a {color} {shape}",
    "a photo of a {color} {shape}",
    "there is a {color} {shape}",
)

ATTRIBUTE_QUESTIONS: dict[str, tuple[str, ...]] = {
    "shape": (
        "what shape is this?",
        "what is the shape of the object?",
        "which shape do you see?",
        "name the shape in the picture",
        "what kind of shape is it?",
    ),
    "color": (
        "what colour is the object?",
        "what color is it?",
        "which colour is the shape?",
        "what is the colour of the thing in the picture?",
        "name the color you see",
    ),
    "size": (
        "is the object small or large?",
        "how big is the shape?",
        "what size is it?",
        "is it big or small?",
        "is the thing in the picture large or small?",
    ),
}

BINDING_QUESTIONS: tuple[str, ...] = (
    "what shape is the {color} one?",
    "which shape is {color}?",
    "what is the shape of the {color} object?",
    "the {color} object is which shape?",
    "tell me the shape of the {color} thing",
    "what is the {color} thing?",
)

#: The answer vocabulary of attribute questions: shapes, then colours, then sizes.
ATTRIBUTE_ANSWERS: tuple[str, ...] = (*SHAPES, *COLORS, *SIZES)


def _choice(rng: np.random.Generator, items: tuple[str, ...]) -> str:
    return items[int(rng.integers(len(items)))]


def caption(obj: ShapeObject, rng: np.random.Generator, p_size: float = 0.8) -> str:
    """A caption naming the object's colour and shape, and its size with probability p_size."""
    words = {"color": COLORS[obj.color], "shape": SHAPES[obj.shape]}
    if rng.random() < p_size:
        words["size"] = _choice(rng, SIZE_WORDS[SIZES[obj.size]])
        return _choice(rng, CAPTIONS_WITH_SIZE).format(**words)
    return _choice(rng, CAPTIONS_WITHOUT_SIZE).format(**words)


def canonical_caption(obj: ShapeObject) -> str:
    """The plain caption used for retrieval evaluation: "a large red star"."""
    return f"a {SIZES[obj.size]} {COLORS[obj.color]} {SHAPES[obj.shape]}"


def class_prompt(shape: int, color: int) -> str:
    """The zero-shot prompt of one (shape, colour) class: "a red star"."""
    return f"a {COLORS[color]} {SHAPES[shape]}"


def attribute_question(obj: ShapeObject, rng: np.random.Generator) -> tuple[str, str]:
    """(question, answer) about the object's shape, colour or size, the attribute at random."""
    attribute = _choice(rng, ("shape", "color", "size"))
    answer = {
        "shape": SHAPES[obj.shape],
        "color": COLORS[obj.color],
        "size": SIZES[obj.size],
    }[attribute]
    return _choice(rng, ATTRIBUTE_QUESTIONS[attribute]), answer


def binding_question(target: ShapeObject, rng: np.random.Generator) -> tuple[str, str]:
    """(question, answer): the question names ``target`` by its colour and asks its shape."""
    question = _choice(rng, BINDING_QUESTIONS).format(color=COLORS[target.color])
    return question, SHAPES[target.shape]
