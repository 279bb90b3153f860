"""The microphone ring buffer: samples addressed by capture time, missing audio reads as zeros."""

import threading

import numpy as np
import pytest

from avaffect.audio import SpectrogramConfig, resample
from avaffect.realtime.audio_input import ResampledRing, RingAudio
from avaffect.realtime.ring_buffer import AudioRingBuffer

RATE = 1000  # small numbers keep positions readable


def ramp(start: int, n: int) -> np.ndarray:
    """Samples whose value is their own absolute position (exact in float32 below 2**24)."""
    return np.arange(start, start + n, dtype=np.float32)


def test_window_by_time_returns_the_samples_that_end_there():
    ring = AudioRingBuffer(RATE, seconds=2.0)
    ring.write(ramp(5000, 300), start_time=5.0)
    window = ring.window(end_time=5.25, n_samples=100)
    np.testing.assert_array_equal(window, ramp(5150, 100))
    assert ring.end_time == 5.3


def test_before_the_first_sample_and_past_the_newest_is_silence():
    ring = AudioRingBuffer(RATE, seconds=2.0)
    ring.write(ramp(5000, 100), start_time=5.0)
    window = ring.window(end_time=5.15, n_samples=200)  # 4.95 .. 5.15
    np.testing.assert_array_equal(window[:50], 0)
    np.testing.assert_array_equal(window[50:150], ramp(5000, 100))
    np.testing.assert_array_equal(window[150:], 0)


def test_empty_buffer_reads_zeros():
    ring = AudioRingBuffer(RATE, seconds=1.0)
    assert ring.end_time is None
    np.testing.assert_array_equal(ring.window(3.0, 50), np.zeros(50, np.float32))


def test_wraparound_keeps_the_last_capacity_samples():
    ring = AudioRingBuffer(RATE, seconds=1.0)  # 1000 samples
    for k in range(7):  # 7 blocks of 300: wraps twice
        ring.write(ramp(k * 300, 300), start_time=k * 0.3)
    np.testing.assert_array_equal(ring.window(2.1, 1000), ramp(1100, 1000))
    # Older than the capacity: gone, reads as zeros.
    window = ring.window(1.2, 200)  # positions 1000..1200, of which only 1100.. remain
    np.testing.assert_array_equal(window[:100], 0)
    np.testing.assert_array_equal(window[100:], ramp(1100, 100))


def test_a_block_longer_than_the_buffer_keeps_its_end():
    ring = AudioRingBuffer(RATE, seconds=0.5)
    ring.write(ramp(0, 1700), start_time=0.0)
    np.testing.assert_array_equal(ring.window(1.7, 500), ramp(1200, 500))


def test_timestamp_jitter_is_snapped_but_a_real_gap_is_silence():
    ring = AudioRingBuffer(RATE, seconds=2.0, snap_ms=2.0)
    ring.write(ramp(0, 100), start_time=0.0)
    ring.write(ramp(100, 100), start_time=0.1015)  # 1.5 ms late: the same stream
    np.testing.assert_array_equal(ring.window(0.2, 200), ramp(0, 200))
    ring.write(ramp(500, 100), start_time=0.5)  # 300 ms of nothing, then more
    window = ring.window(0.6, 400)
    np.testing.assert_array_equal(window[:300], 0)
    np.testing.assert_array_equal(window[300:], ramp(500, 100))


def test_read_by_position_drains_exactly_once():
    ring = AudioRingBuffer(RATE, seconds=1.0)
    drained, next_pos = [], 0
    for k in range(10):
        ring.write(ramp(k * 250, 250), start_time=k * 0.25)
        end = ring.end_position
        drained.append(ring.read(next_pos, end))
        next_pos = end
    np.testing.assert_array_equal(np.concatenate(drained), ramp(0, 2500))


def test_concurrent_writer_and_reader_never_see_torn_blocks():
    ring = AudioRingBuffer(RATE, seconds=0.5)
    blocks, block = 400, 64
    done = threading.Event()

    def writer():
        for k in range(blocks):
            ring.write(np.full(block, k, np.float32), start_time=k * block / RATE)
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    while not done.is_set():
        end = ring.end_position
        if end is None:
            continue
        window = ring.read(end - block, end)  # exactly the newest block
        assert np.all(window == window[0])
    thread.join()


@pytest.mark.parametrize("device_rate", [48000, 44100])
def test_a_microphone_off_the_models_rate_is_heard_as_its_recording_resampled(device_rate):
    """A browser or USB microphone at 48 or 44.1 kHz, heard by a 16 kHz model 30 times a
    second: each window holds what resampling the recording so far gives, every output
    computed once however many windows it falls in."""
    t0, n = 100.0, 16000  # capture clock start (a whole number of both rates' periods), window
    sound = np.random.default_rng(0).standard_normal(device_rate * 3 // 2).astype(np.float32) * 0.1
    sound[: device_rate // 10] = 0.0  # the microphone opens on silence, as before it opened
    ring = AudioRingBuffer(device_rate, seconds=5.0)
    heard = ResampledRing(ring, 16000, seconds=2.0)
    captured = 0
    for block in np.array_split(sound, len(sound) // 1024):
        ring.write(block, t0 + captured / device_rate)
        captured += len(block)
        so_far = np.concatenate([np.zeros(2 * n), resample(sound[:captured], device_rate, 16000), np.zeros(100)])
        for end_time in (t0 + captured / device_rate, t0 + captured / device_rate - 0.2):
            end = 2 * n + int(round((end_time - t0) * 16000))  # the window's end in so_far
            np.testing.assert_allclose(heard.window(end_time, n), so_far[end - n : end], atol=1e-6)
    # a window older than the 2 s kept is resampled for itself, not read as silence
    end_time = t0 + captured / device_rate - 1.2
    end = 2 * n + int(round((end_time - t0) * 16000))
    assert np.abs(so_far[end - n : end]).max() > 0.01
    np.testing.assert_allclose(heard.window(end_time, n), so_far[end - n : end], atol=1e-6)


def test_the_microphone_window_is_the_same_sound_whatever_its_rate():
    cfg = SpectrogramConfig(sample_rate=16000)
    tone = np.sin(2 * np.pi * 440 * np.arange(48000 * 2) / 48000).astype(np.float32) * 0.5
    at_48k, at_16k = AudioRingBuffer(48000, seconds=3.0), AudioRingBuffer(16000, seconds=3.0)
    at_48k.write(tone, 100.0)
    at_16k.write(resample(tone, 48000, 16000), 100.0)
    spec_48k, end_48k = RingAudio(at_48k, cfg).spectrogram(101.5)
    spec_16k, end_16k = RingAudio(at_16k, cfg).spectrogram(101.5)
    assert end_48k == end_16k == 101.5
    np.testing.assert_allclose(spec_48k, spec_16k, atol=1e-4)
