"""The shapes-world generator: determinism, held-out combinations, tasks and rendering."""

from __future__ import annotations

import numpy as np
import pytest

from training.shapes import text as T
from training.shapes.datasets import ShapesSpec, generate, load
from training.shapes.render import object_patch, render_scenes
from training.shapes.world import (
    COLOR_RGB,
    COLORS,
    SHAPES,
    SIZES,
    all_combos,
    heldout_combos,
    sample_scene,
    split_combos,
)


def test_heldout_combos_hold_out_every_shape_once_and_every_colour_twice() -> None:
    held = heldout_combos()
    assert len(held) == 10
    assert sorted(s for s, _ in held) == list(range(len(SHAPES)))
    assert all(sum(c == colour for _, c in held) == 2 for colour in range(len(COLORS)))
    seen, held_list = split_combos(held)
    assert len(seen) == 40 and not set(seen) & set(held_list)


def test_generation_is_deterministic_and_seed_dependent() -> None:
    a = generate(ShapesSpec("binding", "train", 20))
    b = generate(ShapesSpec("binding", "train", 20))
    c = generate(ShapesSpec("binding", "train", 20, seed=1))
    assert np.array_equal(a.images, b.images) and a.texts == b.texts
    assert not np.array_equal(a.images, c.images)


def test_training_split_never_shows_a_heldout_combination() -> None:
    held = heldout_combos()
    rng = np.random.default_rng(0)
    seen, _ = split_combos(held)
    scenes = [sample_scene(rng, seen, 64, 3, distinct_colors=True) for _ in range(300)]
    assert all(o.combo not in held for s in scenes for o in s.objects)
    train = generate(ShapesSpec("objects", "train", 200))
    assert all((k[0], k[1]) not in held for k in train.keys)


def test_heldout_split_asks_only_about_heldout_combinations() -> None:
    held = heldout_combos()
    examples = generate(ShapesSpec("objects", "heldout", 100))
    assert all((k[0], k[1]) in held for k in examples.keys)
    assert {(k[0], k[1]) for k in examples.keys} == set(held)  # every held-out pair appears


def test_objects_labels_match_captions() -> None:
    examples = generate(ShapesSpec("objects", "heldout", 50))
    for text, shape, colour, size in zip(
        examples.texts,
        examples.labels["shape"],
        examples.labels["color"],
        examples.labels["size"],
        strict=True,
    ):
        assert SHAPES[shape] in text and COLORS[colour] in text
        assert any(w in text.split() for w in T.SIZE_WORDS[SIZES[size]])  # eval names size


def test_binding_questions_name_a_colour_that_picks_one_object() -> None:
    rng = np.random.default_rng(3)
    seen, _ = split_combos(heldout_combos())
    for _ in range(50):
        scene = sample_scene(rng, seen, 64, 3, distinct_colors=True)
        colours = [o.color for o in scene.objects]
        assert len(set(colours)) == 3
        question, answer = T.binding_question(scene.objects[0], rng)
        assert COLORS[scene.objects[0].color] in question
        assert answer == SHAPES[scene.objects[0].shape]


def test_attribute_answers_cover_shapes_colours_and_sizes() -> None:
    examples = generate(ShapesSpec("attribute", "train", 300))
    answers = examples.classes["answer"]
    assert answers == [*SHAPES, *COLORS, *SIZES]
    kinds = {
        ("shape" if a < 10 else "color" if a < 15 else "size") for a in examples.labels["answer"]
    }
    assert kinds == {"shape", "color", "size"}


@pytest.mark.parametrize("size", [32, 64, 96])
def test_render_any_size_paints_each_object_in_its_colour(size: int) -> None:
    rng = np.random.default_rng(0)
    scenes = [sample_scene(rng, all_combos(), size, 1) for _ in range(8)]
    images = render_scenes(scenes, size, rng)
    assert images.shape == (8, size, size, 3) and images.dtype == np.uint8
    for image, scene in zip(images, scenes, strict=True):
        obj = scene.objects[0]
        alpha, x0, y0 = object_patch(obj, size)
        inside = image[y0 : y0 + alpha.shape[0], x0 : x0 + alpha.shape[1]][alpha > 0.95]
        assert len(inside) > 4
        expected = np.array(COLOR_RGB[COLORS[obj.color]])
        assert np.abs(inside.mean(0) - expected).max() < 40  # jitter + noise, not background


def test_cache_round_trip(tmp_path) -> None:
    spec = ShapesSpec("attribute", "seen", 12)
    first = load(spec, tmp_path)
    assert (tmp_path / spec.cache_name()).is_file()
    second = load(spec, tmp_path)
    assert np.array_equal(first.images, second.images)
    assert first.texts == second.texts and first.keys == second.keys
    assert np.array_equal(first.labels["answer"], second.labels["answer"])
