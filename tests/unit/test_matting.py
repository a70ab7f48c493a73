"""The "Refine edges" matte (app/images/matting.py): the band-limited closed-form solver
against pymatting's, exact behaviour on small drawn scenes, and the benchmark's promise: on
composites with known alpha, its edge error is at most rembg's alpha matting's, measured in
the same run."""

import numpy as np
import pytest
from PIL import Image

from app.images import matting
from bench.guided import matte
from tests.unit.test_refine import SIZE, coarse_mask, square_scene


def soft_scene():
    """A 48×40 photo: an orange disc with a soft rim over a textured blue-green background,
    and its true alpha."""
    yy, xx = np.mgrid[:40, :48]
    alpha = np.clip((13 - np.hypot(yy - 20, xx - 24)) / 3, 0, 1)
    rng = np.random.default_rng(0)
    bg = np.stack([0.1 + 0.2 * rng.random((40, 48)), 0.5 + 0.3 * xx / 48,
                   0.6 + 0.2 * yy / 40], axis=-1)
    fg = np.array([0.9, 0.5, 0.2]) + 0.05 * rng.random((40, 48, 3))
    return alpha[..., None] * fg + (1 - alpha[..., None]) * bg, alpha


def test_the_solver_reaches_closed_form_mattings_solution():
    from pymatting import estimate_alpha_cf

    image, alpha = soft_scene()
    trimap = np.where(alpha > 0.5, 1.0, 0.0)
    unsure = matting.dilated((alpha > 0) & (alpha < 1), 2)
    trimap[unsure] = 0.5
    expected = estimate_alpha_cf(image, trimap)
    ours = matting.solve(image, ~unsure, trimap, np.full(alpha.shape, 0.5),
                         iterations=500, tol=1e-10)
    assert unsure.sum() == 556
    assert np.abs(ours - expected).max() < 1e-8  # measured 1.1e-9
    # The known pixels are kept as they were given.
    assert np.array_equal(ours[~unsure], trimap[~unsure])
    # And the soft rim is found: 0.008 from the truth on average where the trimap did not say.
    assert np.abs(ours - alpha)[unsure].mean() < 0.01


def test_a_sure_mask_is_left_as_it_is():
    image, _ = soft_scene()
    for level in (0.0, 1.0):
        flat = np.full((40, 48), level)
        known, value = matting.trimap(flat, matting.LOW, matting.HIGH, matting.MARGIN)
        assert known.all() and (value == level).all()
        assert (matting.solve(image, known, value, flat) == level).all()


def test_the_model_is_unsure_from_5_to_95_percent_and_a_pixel_around():
    """The trimap's unknown part: every mask value strictly between 0.05 and 0.95, grown
    by one pixel; 0.04 and 0.96 are sure, and sure values are cut at one half."""
    levels = [0.0, 0.04, 0.06, 0.2, 0.3, 0.5, 0.7, 0.8, 0.94, 0.96, 1.0]
    mask = np.zeros((3, 4 * len(levels)))
    mask[1, 2::4] = levels
    known, value = matting.trimap(mask, matting.LOW, matting.HIGH, matting.MARGIN)
    unsure_at = [levels[(x - 2) // 4] for x in np.flatnonzero(~known[1]) if x % 4 == 2]
    assert unsure_at == [0.06, 0.2, 0.3, 0.5, 0.7, 0.8, 0.94]
    assert (~known).sum() == 7 * 9  # each a 3×3 square
    assert value[1, 2::4].tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]


def test_a_blurred_mask_is_snapped_to_the_photos_edge():
    photo, true = square_scene()
    coarse = coarse_mask(true)
    after = np.asarray(matte(photo, coarse))
    # Exactly the true square (the guided filter, refine, left 1.5 levels on average).
    assert np.array_equal(after, true * 255)


def test_far_from_the_mask_edge_nothing_changes():
    photo, true = square_scene()
    after = np.asarray(matte(photo, coarse_mask(true)))
    assert not after[:6, :6].any() and not after[58:, 58:].any()
    assert (after[26:38, 26:38] == 255).all()
    assert (np.asarray(matte(photo, Image.new("L", photo.size, 255))) == 255).all()
    assert not np.asarray(matte(photo, Image.new("L", photo.size, 0))).any()


@pytest.mark.parametrize("mode", ["RGBA", "L", "P"])
def test_any_photo_mode_and_tiny_sizes(mode):
    photo, true = square_scene()
    out = matte(photo.convert(mode), coarse_mask(true))
    assert out.mode == "L" and out.size == photo.size
    for size in [(1, 1), (3, 2), (2, 5), (4, 4)]:
        tiny = matte(Image.new(mode, size), Image.new("L", size, 200))
        assert tiny.size == size


def test_a_mask_unsure_everywhere_invents_no_edge():
    # Every pixel unknown but the border's (the largest system a photo can ask for), and
    # the border at one half: a flat matte costs nothing, and is what comes out.
    photo, _ = square_scene()
    out = np.asarray(matte(photo, Image.new("L", photo.size, 128)))
    assert out.shape == (SIZE, SIZE) and (out == 128).all()


def test_a_large_photo_is_solved_small_and_keeps_its_own_edge():
    photo, true = square_scene()
    big_photo = photo.resize((1920, 1920), Image.Resampling.NEAREST)  # 30×: solved at 240 and 480
    big_true = np.asarray(Image.fromarray(true).resize((1920, 1920),
                                                       Image.Resampling.NEAREST))
    coarse = coarse_mask(true).resize((1920, 1920), Image.Resampling.BILINEAR)
    after = np.asarray(matte(big_photo, coarse)).astype(int)
    assert np.abs(np.asarray(coarse).astype(int) - big_true * 255).mean() > 11.5
    assert np.abs(after - big_true * 255).mean() < 0.1  # measured 0.05


def test_a_very_wide_photo_is_solved_at_its_area_and_keeps_its_own_edge():
    """40 squares in a row, 20,480 × 512: fitted by its longer side alone it was solved at
    480 × 12 and 240 × 6, where the mask is sure nowhere, and came out see-through."""
    photo, true = square_scene()
    row, truths = np.tile(np.asarray(photo), (1, 40, 1)), np.tile(true, (1, 40))
    size = (row.shape[1] * 8, row.shape[0] * 8)
    wide = Image.fromarray(row).resize(size, Image.Resampling.NEAREST)
    wide_true = np.asarray(Image.fromarray(truths).resize(size, Image.Resampling.NEAREST))
    coarse = coarse_mask(truths).resize(size, Image.Resampling.BILINEAR)
    after = np.asarray(matte(wide, coarse)).astype(int)
    assert np.abs(np.asarray(coarse).astype(int) - wide_true * 255).mean() > 11.5
    assert np.abs(after - wide_true * 255).mean() < 0.5



def test_a_sure_edge_follows_the_photo_at_full_size():
    """A mask sure everywhere (its edges on the working sizes' pixel grid, so not one pixel
    is unsure) of a photo carried up from 480 px: the matte keeps the photo's sharp edge.
    Held at the mask's value where it is sure, the carried model became the bilinear ramp
    of the working size's pixels: 112 levels off either side of the edge, 0.222 on average."""
    side = 960
    yy, xx = np.mgrid[:side, :side]
    true = (yy >= 320) & (yy < 640) & (xx >= 240) & (xx < 720)
    pixels = np.zeros((side, side, 3), np.uint8)
    pixels[...], pixels[true] = (30, 80, 210), (220, 120, 40)
    mask = Image.fromarray(true.astype(np.uint8) * 255)
    error = np.abs(np.asarray(matte(Image.fromarray(pixels), mask)).astype(int) - true * 255)
    assert error.mean() < 0.1 and error.max() <= 48  # measured 0.065 and 41

# One composite per subject, each over another background: a third of bench/quality.py's set.
SCENES = [("retina", "brick"), ("horse", "grass"), ("furry", "gravel")]


def test_on_composites_the_edge_error_is_at_most_rembgs_alpha_mattings():
    # bench/quality.py's measure on a third of its composites, with the real U²-Net-p; rembg's
    # alpha matting (closed-form on the full-size photo) measured here, in the same run.
    from app.engines.local import LocalEngine
    from bench.composites import composite
    from bench.guided import decontaminate
    from bench.metrics import band, scores
    from bench.rembg_matting import alpha_matting
    from tests.support import model_path

    engine = LocalEngine(model_path())
    ours, theirs, plain = [], [], []
    for scene in SCENES:
        comp = composite(*scene)
        mask = engine.predict(comp.image)
        alpha = mask.resize(comp.image.size, Image.Resampling.BILINEAR)
        in_band = band(comp.alpha)

        def score(m, colours, in_band=in_band, comp=comp):
            return scores(comp.alpha, comp.foreground, np.asarray(m), np.asarray(colours),
                          in_band)

        refined = matte(comp.image, alpha)
        ours.append(score(refined, decontaminate(comp.image, refined)))
        theirs.append(score(*alpha_matting(comp.image, mask)))
        plain.append(score(alpha, comp.image))

    def mean(rows, key):
        return np.mean([r[key] for r in rows])

    # Measured: 10.30 against rembg's 10.48 on these three (rembg is better on the horse's
    # crisp edge, we on the fur); on all 15 of the benchmark 11.78 against 12.99.
    assert mean(ours, "mae_band") <= mean(theirs, "mae_band")
    # Never worse than the plain mask away from the edge, nor in the colours seen at it.
    for o, p in zip(ours, plain, strict=True):
        assert o["mae_out"] <= p["mae_out"] + 0.05
        assert o["colour_band"] < p["colour_band"]


def straight_steps(alpha: np.ndarray, inside: np.ndarray, jump: int, length: int) -> int:
    """Pixels on straight steps of `alpha` (uint8) within `inside`: between two neighbours
    in a row (a column) a jump of at least `jump` levels with the jumps just before and
    after it at most a third of it (a step, not a ramp), the same way up at the same place
    in at least `length` rows (columns) in a row: the edge of a flat patch."""
    count = 0
    for a, keep in ((alpha, inside), (alpha.T, inside.T)):
        d = np.diff(a.astype(np.int32), axis=1)
        size = np.abs(d)
        step = np.zeros(d.shape, bool)
        step[:, 1:-1] = ((size[:, 1:-1] >= jump) & (3 * size[:, :-2] <= size[:, 1:-1])
                         & (3 * size[:, 2:] <= size[:, 1:-1])
                         & keep[:, :-3] & keep[:, 1:-2] & keep[:, 2:-1] & keep[:, 3:])
        way = np.sign(d) * step
        run = np.zeros(d.shape, np.int32)
        run[0] = way[0] != 0
        for y in range(1, len(way)):
            run[y] = np.where((way[y] != 0) & (way[y] == way[y - 1]), run[y - 1] + 1, way[y] != 0)
        count += int(np.count_nonzero(run >= length))
    return count


def test_soft_fur_gets_no_flat_patches_with_straight_edges():
    """The cat's chest (chelsea, 451×300, U²-Net-p: its mask unsure over much of the fur):
    the matte was applied to the photo's 8-bit colours with a gain of 10 or more, so a JPEG's
    flat chroma patches came out as flat patches of alpha with straight steps of 10-25
    levels. In the soft band, steps of 12 levels running 5 px along a row or a column are
    no more than in the plain mask (the mask's few are at its whiskers and the border)."""
    from app.engines.local import LocalEngine
    from tests.support import model_path, photo_array

    photo = Image.fromarray(photo_array("chelsea"))
    mask = LocalEngine(model_path()).predict(photo)
    plain = np.asarray(mask.resize(photo.size, Image.Resampling.BILINEAR))
    refined = np.asarray(matte(photo, Image.fromarray(plain)))
    soft = (plain > 5) & (plain < 250)
    assert soft.mean() > 0.2  # much of the photo is unsure: the case at stake
    # Measured: 7 px against the mask's 12; 36 before APPLY_EPS.
    assert straight_steps(refined, soft, 12, 5) <= straight_steps(plain, soft, 12, 5)
    # Still refined: the matte moved away from the mask in the band.
    assert np.abs(refined.astype(int) - plain)[soft].mean() > 10
