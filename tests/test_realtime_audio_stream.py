"""Audio memory is bounded by the window, not the recording: a file's track is decoded as a
stream into a ring of a few seconds, and a window's spectrogram touches only its own samples.
Measured by what is held and allocated (tracemalloc), never by timing."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from avaffect.audio import SpectrogramConfig, resample, spectrogram_windows
from avaffect.realtime.file_audio import FileAudio, decode_audio_track

av = pytest.importorskip("av", reason="PyAV (the 'audio' extra) writes and reads the test files")

RATE = 16000  # the long file is at the model's rate: its test measures memory, not resampling
CFG = SpectrogramConfig(sample_rate=16000, context_s=0.5)
MB = 2**20


def write_wav(path: Path, seconds: float, chirp: bool = False, rate: int = RATE) -> Path:
    """A PCM WAV of a 440 Hz tone (or a rising chirp), so that decoding costs little."""
    t = np.arange(int(rate * seconds)) / rate
    phase = 2 * np.pi * (200 * t + 300 * t**2) if chirp else 2 * np.pi * 440 * t
    tone = (0.4 * np.sin(phase) * 32767).astype(np.int16)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=rate, layout="mono")
        for start in range(0, len(tone), 8192):
            frame = av.AudioFrame.from_ndarray(tone[None, start : start + 8192], "s16", "mono")
            frame.sample_rate, frame.pts = rate, start
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def walk(path: Path, step_s: float) -> tuple[FileAudio, int, dict[float, np.ndarray]]:
    """Every window of ``path`` at ``step_s``, in order as the analyzer asks for them; returns
    the input, the peak bytes allocated while walking and the first few spectrograms."""
    audio = FileAudio.open(path, CFG)
    specs = {}
    tracemalloc.start()
    try:
        t = step_s
        while audio.available_until() > t - step_s:
            spec, end = audio.spectrogram(t)
            if t <= 10:
                specs[t] = spec
            t += step_s
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        audio.close()
    return audio, peak, specs


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("long_audio")
    return write_wav(root / "short.wav", 10), write_wav(root / "long.wav", 600)


def test_the_decoder_holds_the_same_few_seconds_for_ten_seconds_and_ten_minutes(files):
    short_path, long_path = files
    short, short_peak, short_specs = walk(short_path, 2.5)
    long, long_peak, long_specs = walk(long_path, 5.0)
    assert long.reader.samples_read == 600 * RATE  # the whole track went through...
    assert long.held_samples == short.held_samples <= 3 * RATE  # ...through the same ring
    assert long.reader.largest_block <= RATE // 2  # and no block of it was big
    # The most allocated at once is one window's work (resampling it dominates), the same
    # on ten minutes as on ten seconds: it does not grow with the recording.
    assert long_peak <= 1.1 * short_peak + MB / 4
    np.testing.assert_allclose(long_specs[5.0], short_specs[5.0], atol=1e-5)  # same tone
    assert long.available_until() == pytest.approx(600, abs=0.01)


def test_a_window_spectrogram_touches_only_its_own_samples():
    """Issue 23: padding the whole track per window made a run quadratic in its length."""
    window = CFG.context_samples

    def peak_bytes(seconds: int) -> tuple[int, np.ndarray]:
        rng = np.random.default_rng(0)
        audio = rng.uniform(-0.5, 0.5, CFG.sample_rate * seconds).astype(np.float32)
        end = np.array([CFG.sample_rate * 5 + 123])  # the same window in both
        tracemalloc.start()
        try:
            spec = spectrogram_windows(audio, end, CFG)
            return tracemalloc.get_traced_memory()[1], spec
        finally:
            tracemalloc.stop()

    short_peak, short_spec = peak_bytes(10)
    long_peak, long_spec = peak_bytes(600)  # 38 MB of samples
    np.testing.assert_array_equal(short_spec, long_spec)
    assert long_peak == pytest.approx(short_peak, rel=0.05)
    assert long_peak < 64 * window * 4  # a few copies of one window, never the track


@pytest.mark.parametrize("rate", [22050, 44100, 48000, 16000, 8000])
def test_the_streamed_track_gives_the_very_windows_of_the_whole_decoded_track(rate, tmp_path):
    """Streaming changes memory, not numbers: resampled block by block, the windows equal
    those of the whole track resampled at once (what training computes), at every rate."""
    path = write_wav(tmp_path / "chirp.wav", 3, chirp=True, rate=rate)
    whole = decode_audio_track(path)
    samples = resample(whole.samples, whole.sample_rate, CFG.sample_rate)
    audio = FileAudio.open(path, CFG)
    try:
        for t in (0.1, 0.5, 1.37, 2.0, 2.99, 3.4):
            spec, end = audio.spectrogram(t)
            end_sample = int(round(min(t, 3.0) * CFG.sample_rate))
            expected = spectrogram_windows(samples, np.array([end_sample]), CFG)[0]
            np.testing.assert_allclose(spec, expected, atol=1e-5)
            assert end == pytest.approx(min(t, 3.0), abs=1 / CFG.sample_rate)
    finally:
        audio.close()
