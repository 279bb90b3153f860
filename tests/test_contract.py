"""The shared contract (avaffect/): face crop, spectrogram, checkpoint format, output record."""

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save as safetensors_bytes

from avaffect.audio import (
    SpectrogramConfig,
    resample,
    resample_needs,
    resample_ready,
    spectrogram,
    spectrogram_windows,
)
from avaffect.checkpoint import (
    FORMAT_VERSION,
    CheckpointConfig,
    load_checkpoint,
    read_config,
    save_checkpoint,
)
from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec, align_faces, crops_to_input, estimate_similarity, template
from avaffect.labels import AUS, EXPRESSIONS, labels_dict
from avaffect.record import FaceResult

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RATE = 44100


def _similarity(angle: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    return np.array([[c, -s, shift[0]], [s, c, shift[1]]])


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


# ----------------------------------------------------------------------------- face crop


def test_estimate_similarity_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    for _ in range(5):
        known = _similarity(
            rng.uniform(-np.pi, np.pi), rng.uniform(0.5, 4.0), rng.uniform(-200, 200, 2)
        )
        landmarks = _apply(known, template(96))
        np.testing.assert_allclose(estimate_similarity(template(96), landmarks), known, atol=1e-9)
        # and the other way: from the landmarks back onto the template
        back = estimate_similarity(landmarks, template(96))
        np.testing.assert_allclose(_apply(back, landmarks), template(96), atol=1e-9)


def test_estimate_similarity_is_batch_consistent():
    rng = np.random.default_rng(1)
    landmarks = template(96)[None] * rng.uniform(1, 3, (6, 1, 1)) + rng.normal(0, 5, (6, 5, 2))
    batch = estimate_similarity(landmarks, template(96))
    assert batch.shape == (6, 2, 3)
    for one, matrix in zip(landmarks, batch, strict=True):
        np.testing.assert_allclose(estimate_similarity(one, template(96)), matrix, atol=1e-12)


def _blob_image(landmarks: np.ndarray, sigma: float, shape=(240, 320)) -> np.ndarray:
    """A dark BGR image with a bright Gaussian blob centred on each landmark."""
    ys, xs = np.mgrid[: shape[0], : shape[1]]
    image = np.zeros(shape)
    for x, y in landmarks:
        image += np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))
    return np.repeat((np.clip(image, 0, 1) * 255).round().astype(np.uint8)[..., None], 3, axis=2)


def _centroid_near(crop: np.ndarray, point: np.ndarray, radius: int = 6) -> np.ndarray:
    x0, y0 = np.round(point).astype(int)
    patch = crop[y0 - radius : y0 + radius + 1, x0 - radius : x0 + radius + 1].astype(np.float64)
    ys, xs = np.mgrid[y0 - radius : y0 + radius + 1, x0 - radius : x0 + radius + 1]
    return np.array([(xs * patch).sum(), (ys * patch).sum()]) / patch.sum()


def test_align_faces_moves_the_landmarks_onto_the_template():
    scale = 1.7
    known = _similarity(np.deg2rad(25), scale, (90.0, 20.0))
    landmarks = _apply(known, template(96))
    image = _blob_image(landmarks, sigma=1.5 * scale)
    faces = align_faces(image, landmarks[None])
    assert faces.shape == (1, 3, 96, 96) and faces.dtype == np.float32
    assert faces.min() >= -1.0 and faces.max() <= 1.0
    brightness = faces[0, 0] + 1.0  # 0 where the image is dark
    for point in template(96):
        np.testing.assert_allclose(_centroid_near(brightness, point), point, atol=0.3)


def test_a_checkpoint_face_template_decides_where_the_landmarks_land():
    """FER2013-trained models see live faces framed as FER2013 framed its own (tighter, higher)."""
    fer = FaceSpec(size=48, color="gray", template="fer2013")
    landmarks = _apply(_similarity(np.deg2rad(-10), 2.5, (60.0, 40.0)), template(48, "fer2013"))
    brightness = align_faces(_blob_image(landmarks, sigma=2.0), landmarks[None], fer)[0, 0] + 1.0
    for point in template(48, "fer2013"):
        np.testing.assert_allclose(_centroid_near(brightness, point), point, atol=0.4)
    eyes_fer, eyes_arc = template(48, "fer2013")[:2], template(48)[:2]
    assert np.ptp(eyes_fer[:, 0]) > 1.15 * np.ptp(eyes_arc[:, 0])  # FER2013's faces are larger
    assert eyes_fer[:, 1].mean() < eyes_arc[:, 1].mean() - 3  # and sit higher in the crop
    assert FaceSpec.from_dict(fer.to_dict()) == fer
    assert FaceSpec.from_dict({"size": 96, "color": "rgb"}).template == "arcface"  # older files
    with pytest.raises(AvaffectError, match="face template 'fer' is unknown"):
        FaceSpec(template="fer")


def test_align_faces_handles_several_faces_and_none():
    landmarks = np.stack(
        [_apply(_similarity(0.1 * i, 1.2, (40.0 * i, 30.0)), template(96)) for i in range(3)]
    )
    image = _blob_image(landmarks.reshape(-1, 2), sigma=2.0)
    faces = align_faces(image, landmarks)
    np.testing.assert_array_equal(align_faces(image, landmarks[1]), faces[1:2])
    assert align_faces(image, np.zeros((0, 5, 2))).shape == (0, 3, 96, 96)


def test_crops_to_input_range_colour_order_and_resizing():
    crops = np.zeros((2, 112, 112, 3), np.uint8)
    crops[..., 2] = 255  # BGR: pure red
    faces = crops_to_input(crops)
    assert faces.shape == (2, 3, 96, 96) and faces.dtype == np.float32
    np.testing.assert_allclose(faces[:, 0], 1.0)  # RGB: red channel first
    np.testing.assert_allclose(faces[:, 1:], -1.0)


def test_gray_face_spec_gives_three_equal_channels():
    rng = np.random.default_rng(2)
    crops = rng.integers(0, 256, (2, 96, 96, 3), dtype=np.uint8)
    faces = crops_to_input(crops, FaceSpec(color="gray"))
    assert faces.shape == (2, 3, 96, 96)
    np.testing.assert_array_equal(faces[:, 0], faces[:, 1])
    np.testing.assert_array_equal(faces[:, 0], faces[:, 2])
    grey_crops = crops_to_input(crops[..., 0], FaceSpec(color="gray"))  # [N, H, W] grey input
    expected = np.repeat(crops[:, None, :, :, 0] / 127.5 - 1.0, 3, axis=1)
    np.testing.assert_allclose(grey_crops, expected, atol=1e-5)


@pytest.mark.parametrize(
    "call",
    [
        lambda: align_faces(np.zeros((64, 64), np.uint8), template(96)),
        lambda: align_faces(np.zeros((64, 64, 3), np.float32), template(96)),
        lambda: align_faces(np.zeros((64, 64, 3), np.uint8), np.zeros((2, 4, 2))),
        lambda: align_faces(np.zeros((64, 64, 3), np.uint8), np.zeros(10)),
        lambda: crops_to_input(np.zeros((2, 96, 96, 4), np.uint8)),
        lambda: estimate_similarity(np.zeros((5, 3)), template(96)),
        lambda: FaceSpec(color="sepia"),
        lambda: FaceSpec(size=8),
    ],
)
def test_bad_face_inputs_raise_one_line_errors(call):
    with pytest.raises(AvaffectError) as err:
        call()
    assert "\n" not in str(err.value)


# ----------------------------------------------------------------------------- spectrogram


def _tone(freq: float, amplitude: float, seconds: float = 1.0, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_default_spectrogram_shape():
    cfg = SpectrogramConfig()
    assert cfg.shape == (1, 728, 44)  # 33 ms windows (1455 samples), hop 22 ms (970), 1 s
    assert spectrogram(_tone(440, 0.5)).shape == cfg.shape


def test_pure_tone_peaks_at_its_bin_with_its_level():
    cfg = SpectrogramConfig()
    freq = cfg.bin_frequency(40)  # a tone centred on bin 40 (about 1212 Hz)
    loud = spectrogram(_tone(freq, 0.5), cfg)[0]
    assert (loud.argmax(axis=0) == 40).all()
    # 0.5 full scale is -6.02 dB; scaled from [-80, 0] dB to [-1, 1]
    expected = 2 * (20 * np.log10(0.5) + 80) / 80 - 1
    np.testing.assert_allclose(loud[40], expected, atol=0.01)
    quiet = spectrogram(_tone(freq, 0.05), cfg)[0]
    assert (quiet[40] < loud[40] - 0.4).all()  # 20 dB quieter: loudness survives


def test_silence_maps_to_minus_one():
    assert (spectrogram(np.zeros(RATE, np.float32)) == -1.0).all()


def test_windows_equal_spectrograms_of_slices():
    audio = np.random.default_rng(3).normal(0, 0.1, 3 * RATE).astype(np.float32)
    ends = np.array([0, 5000, RATE // 2, RATE, 80000, len(audio)])
    windows = spectrogram_windows(audio, ends)
    assert windows.shape == (len(ends), *SpectrogramConfig().shape) and windows.dtype == np.float32
    for end, window in zip(ends, windows, strict=True):
        np.testing.assert_allclose(window, spectrogram(audio[:end]), atol=1e-6)


def test_windows_before_the_start_and_after_the_end_are_silence():
    audio = np.random.default_rng(4).normal(0, 0.1, RATE).astype(np.float32)
    half = spectrogram_windows(audio, [RATE // 2])[0, 0]
    assert (half[:, :15] == -1.0).all()  # frames wholly before sample 0
    assert (half[:, -15:].mean(axis=0) > -0.5).all()  # frames over the noise
    after = spectrogram_windows(audio, [RATE + RATE // 2, 10 * RATE])[:, 0]
    assert (after[0][:, -15:] == -1.0).all() and (after[0][:, :15].mean(axis=0) > -0.5).all()
    assert (after[1] == -1.0).all()


def test_the_last_frame_ends_at_the_window_end():
    # a click in the last 5 ms before the end must show in the newest frame
    audio = np.zeros(RATE, np.float32)
    audio[-200:] = 0.5
    assert spectrogram(audio)[0, :, -1].max() > -0.5


def test_max_freq_crops_bins():
    cropped = SpectrogramConfig(max_freq_hz=8000)
    assert cropped.num_bins == int(8000 * cropped.win_length / RATE) + 1
    assert (
        cropped.bin_frequency(cropped.num_bins - 1)
        <= 8000
        < cropped.bin_frequency(cropped.num_bins)
    )
    audio = np.random.default_rng(5).normal(0, 0.1, RATE).astype(np.float32)
    full = spectrogram(audio)
    np.testing.assert_array_equal(spectrogram(audio, cropped), full[:, : cropped.num_bins])


def _peak_frequency(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.argmax(spectrum) * rate / len(audio))


@pytest.mark.parametrize(
    ("rate_in", "rate_out", "freq"), [(16000, RATE, 440.0), (RATE, 16000, 3000.0)]
)
def test_resample_keeps_a_tones_frequency_and_level(rate_in, rate_out, freq):
    out = resample(_tone(freq, 0.5, rate=rate_in), rate_in, rate_out)
    assert len(out) == rate_out
    assert _peak_frequency(out, rate_out) == pytest.approx(freq, abs=2.0)
    middle = out[rate_out // 10 : -rate_out // 10]  # away from the edges
    assert np.abs(middle).max() == pytest.approx(0.5, rel=0.02)


def test_resample_removes_what_the_lower_rate_cannot_hold():
    out = resample(_tone(12000.0, 0.5), RATE, 16000)  # above the new 8 kHz Nyquist
    assert np.abs(out[1600:-1600]).max() < 0.05


@pytest.mark.parametrize("rate_in", [48000, 44100, 22050, 8000, 47999])
def test_a_stream_knows_which_resampled_outputs_are_final(rate_in):
    """resample_ready(n) outputs need no input past the first n, and one more would."""
    for n_in in [0, 16, 17, 18, 100, 1023, 48000, 10**9 + 7]:
        ready = resample_ready(n_in, rate_in, 16000)
        assert resample_needs(ready, rate_in, 16000) <= n_in < resample_needs(ready + 1, rate_in, 16000)


@pytest.mark.skipif(
    not (DATA / "crema_d_audio").is_dir(), reason="shared/data/crema_d_audio is absent"
)
def test_real_speech_spectrogram():
    soundfile = pytest.importorskip("soundfile")
    clip = sorted((DATA / "crema_d_audio").glob("*_ANG_*.flac"))[0]
    audio, rate = soundfile.read(clip, dtype="float32")
    audio = resample(audio, rate, RATE)
    cfg = SpectrogramConfig(max_freq_hz=8000)
    windows = spectrogram_windows(audio, [RATE // 2, len(audio) // 2 + RATE // 2], cfg)
    assert windows.shape == (2, *cfg.shape)
    assert -1.0 <= windows.min() and windows.max() <= 1.0
    assert windows[1].mean() > windows[0].mean()  # mid-sentence is louder than the start


# ----------------------------------------------------------------------------- checkpoint


def _state() -> dict[str, torch.Tensor]:
    layer = torch.nn.Linear(4, 3)
    return {
        "fc.weight": layer.weight.detach(),
        "fc.bias": layer.bias.detach(),
        "steps": torch.tensor([7]),
    }


def _config(**changes) -> CheckpointConfig:
    config = CheckpointConfig(
        model="tiny",
        model_kwargs={"width": 8},
        face=FaceSpec(size=112, color="gray"),
        audio=SpectrogramConfig(context_s=0.5, max_freq_hz=8000),
        training={"data": "fer2013"},
        metrics={"expr_f1": 0.5},
    )
    for name, value in changes.items():
        setattr(config, name, value)
    return config


def test_checkpoint_round_trip(tmp_path):
    state, config = _state(), _config()
    path = save_checkpoint(tmp_path / "models" / "tiny.safetensors", state, config)
    loaded = load_checkpoint(path)
    assert loaded.config == config and loaded.path == path
    assert loaded.config.face == FaceSpec(size=112, color="gray")
    assert loaded.config.audio.shape == config.audio.shape
    assert set(loaded.state_dict) == set(state)
    for name, tensor in state.items():
        torch.testing.assert_close(loaded.state_dict[name], tensor)
    assert read_config(path) == config
    visual_only = save_checkpoint(tmp_path / "visual.safetensors", state, _config(audio=None))
    assert read_config(visual_only).audio is None


def test_checkpoint_with_tied_weights(tmp_path):
    weight = torch.randn(3, 4)
    path = save_checkpoint(tmp_path / "tied.safetensors", {"a": weight, "b": weight}, _config())
    loaded = load_checkpoint(path).state_dict
    torch.testing.assert_close(loaded["a"], loaded["b"])


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "ckpt.safetensors", _state(), _config())
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.safetensors"]
    assert path.stat().st_mode & 0o044  # readable by others under the usual umask, not 0600
    before = path.read_bytes()

    def crash(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, _state(), _config(model="other"))
    assert path.read_bytes() == before  # the good checkpoint is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.safetensors"]


def _write_with_config(path: Path, config: dict | None) -> Path:
    metadata = None if config is None else {"avaffect": json.dumps(config)}
    path.write_bytes(safetensors_bytes(_state(), metadata=metadata))
    return path


def _broken_checkpoints(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    good = save_checkpoint(tmp_path / "good.safetensors", _state(), _config())
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size - 20])
    random_bytes = tmp_path / "random.safetensors"
    random_bytes.write_bytes(np.random.default_rng(6).bytes(4000))
    reordered = _config().to_dict()
    reordered["labels"] = {**labels_dict(), "expr": list(reversed(EXPRESSIONS))}
    newer = {**_config().to_dict(), "format_version": FORMAT_VERSION + 1}
    bad_face = {**_config().to_dict(), "face": {"size": 96, "color": "sepia"}}
    return {
        "missing": (tmp_path / "absent.safetensors", "not found"),
        "truncated": (truncated, "truncated"),
        "random": (random_bytes, "not a safetensors checkpoint"),
        "no config": (
            _write_with_config(tmp_path / "plain.safetensors", None),
            "without an avaffect config",
        ),
        "label order": (
            _write_with_config(tmp_path / "labels.safetensors", reordered),
            "label order",
        ),
        "newer": (_write_with_config(tmp_path / "newer.safetensors", newer), "upgrade avaffect"),
        "bad face": (_write_with_config(tmp_path / "face.safetensors", bad_face), "sepia"),
    }


@pytest.mark.parametrize(
    "case", ["missing", "truncated", "random", "no config", "label order", "newer", "bad face"]
)
def test_bad_checkpoints_give_one_line_errors_naming_the_file(tmp_path, case):
    path, message = _broken_checkpoints(tmp_path)[case]
    with pytest.raises(AvaffectError, match=message) as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_checkpoint_with_a_non_finite_weight_is_refused_naming_the_tensor(tmp_path, capsys, value):
    from avaffect.cli import main
    from avaffect.shipped import resolve_checkpoint

    real = load_checkpoint(resolve_checkpoint("default_frame_fer2013"))
    state = {k: v.clone() for k, v in real.state_dict.items()}
    name = next(k for k, v in state.items() if v.is_floating_point() and v.dim() == 4)
    state[name].view(-1)[7] = value  # one weight of a real convolution
    path = save_checkpoint(tmp_path / "damaged.safetensors", state, real.config)
    with pytest.raises(AvaffectError, match=rf"tensor '{re.escape(name)}' holds 1 non-finite"):
        load_checkpoint(path)
    assert read_config(path).model == real.config.model  # the header alone still reads
    # as a user meets it: any command that loads the weights says so in one line
    assert main(["pack", str(path), "--out", str(tmp_path / "packed.safetensors")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and name in err and "non-finite" in err
    assert not (tmp_path / "packed.safetensors").exists()


# ----------------------------------------------------------------------------- output record


def test_face_result_row_has_the_declared_columns():
    probs = np.linspace(0.1, 0.8, 8)
    expr = np.array([0.05, 0.05, 0.05, 0.05, 0.6, 0.1, 0.1])
    result = FaceResult(
        timestamp=1.25, track_id=3, valence=0.2, arousal=-0.4, au_probs=probs, expr_probs=expr
    )
    row = result.to_row()
    assert list(row) == FaceResult.columns()
    assert FaceResult.columns()[4 : 4 + len(AUS)] == list(AUS)
    assert row["expression"] == "Happiness" == result.expression
    assert row["AU1"] == pytest.approx(0.1) and row["track_id"] == 3
    assert result.active_aus() == [name for name, p in zip(AUS, probs, strict=True) if p >= 0.5]


def test_face_result_with_the_wrong_number_of_probabilities_fails_loudly():
    result = FaceResult(0.0, 0, 0.0, 0.0, au_probs=np.zeros(7), expr_probs=np.full(7, 1 / 7))
    with pytest.raises(ValueError):
        result.to_row()  # never a row with a column silently missing
