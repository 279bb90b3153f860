"""The microphone: a PortAudio stream whose callback only copies samples into a ring buffer.

sounddevice (PortAudio) is the default; PyAudio is the alternative. Either way the callback
does two things and nothing else: take the capture time of the block's first sample (the
stream's ``inputBufferAdcTime``, mapped onto ``time.monotonic`` through the offset between
the stream clock and the monotonic clock measured at start) and copy the samples into the
lock-guarded :class:`AudioRingBuffer`. Frames are stamped on the same monotonic clock, so
the window "ending at the frame's capture time" is a slice of that buffer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

from avaffect.audio import SpectrogramConfig
from avaffect.errors import AvaffectError
from avaffect.realtime.audio_input import RingAudio
from avaffect.realtime.options import MIC_BACKENDS
from avaffect.realtime.ring_buffer import AudioRingBuffer

log = logging.getLogger("avaffect.realtime")

_BLOCK = 512  # samples per callback: ~12 ms at 44.1 kHz


def clock_offset(stream_time: Callable[[], float], clock: Callable[[], float]) -> float:
    """``clock() - stream_time()``, from the tightest of a few bracketed readings."""
    best = (float("inf"), 0.0)
    for _ in range(5):
        before = clock()
        reading = stream_time()
        after = clock()
        best = min(best, (after - before, (before + after) / 2 - reading))
    return best[1]


def _parse_device(device: str | int | None) -> str | int | None:
    if isinstance(device, str) and device.strip().lstrip("-").isdigit():
        return int(device)
    return device


class MicSource(RingAudio):
    """A live microphone as an :class:`~avaffect.realtime.audio_input.AudioInput`."""

    kind = "microphone"

    def __init__(
        self,
        cfg: SpectrogramConfig,
        device: str | int | None = None,
        backend: str = "sounddevice",
        buffer_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if backend not in MIC_BACKENDS:
            raise AvaffectError(
                f"microphone backend {backend!r} is unknown; use one of {MIC_BACKENDS}"
            )
        self.backend = backend
        self.device = _parse_device(device)
        self._clock = clock
        self._offset = 0.0
        self._stream = None
        self._pyaudio = None
        opener = self._open_sounddevice if backend == "sounddevice" else self._open_pyaudio
        rate = opener(cfg, buffer_s)
        super().__init__(self.ring, cfg)
        log.info("microphone: %s via %s at %d Hz", self.device_name, backend, rate)

    # -- sounddevice (PortAudio) -------------------------------------------------------
    def _open_sounddevice(self, cfg: SpectrogramConfig, buffer_s: float) -> int:
        try:
            import sounddevice as sd
        except ImportError:
            raise AvaffectError(
                "microphone support needs sounddevice: pip install 'avaffect[audio]' (or pass --no-audio)"
            ) from None
        except OSError:
            raise AvaffectError(
                "sounddevice is installed but the PortAudio library is missing: install it "
                "(Debian/Ubuntu: apt install libportaudio2; macOS: brew install portaudio) or pass --no-audio"
            ) from None
        try:
            info = sd.query_devices(self.device, kind="input")
        except (ValueError, sd.PortAudioError) as err:
            raise AvaffectError(
                f"no microphone {'found' if self.device is None else repr(self.device)} ({err}); "
                "list devices with `python -m sounddevice`, pass --mic DEVICE, or --no-audio"
            ) from None
        self.device_name = str(info["name"])
        rate = self._pick_rate(cfg.sample_rate, int(info["default_samplerate"]), sd)
        self.ring = AudioRingBuffer(rate, buffer_s)
        try:
            self._stream = sd.InputStream(
                samplerate=rate, channels=1, dtype="float32", device=self.device,
                blocksize=_BLOCK, callback=self._sd_callback,
            )  # fmt: skip
            # The offset is measured before the first callback can run, so every block maps.
            self._offset = clock_offset(lambda: self._stream.time, self._clock)
            self._stream.start()
        except sd.PortAudioError as err:
            raise AvaffectError(
                f"cannot open microphone {self.device_name!r} ({err}); pass --no-audio"
            ) from None
        return rate

    def _pick_rate(self, wanted: int, default: int, sd) -> int:
        """The checkpoint's rate if the device takes it, else the device's own (resampled later)."""
        try:
            sd.check_input_settings(
                device=self.device, channels=1, dtype="float32", samplerate=wanted
            )
            return wanted
        except (ValueError, sd.PortAudioError):
            log.info(
                "microphone does not take %d Hz; recording at %d Hz and resampling", wanted, default
            )
            return default

    def _sd_callback(self, indata, frames, time_info, status) -> None:
        # Only copy: no allocation beyond the ring buffer's, no locks but its own, no logging.
        adc = time_info.inputBufferAdcTime
        start = adc + self._offset if adc > 0 else self._clock() - frames / self.ring.sample_rate
        self.ring.write(indata[:, 0], start)

    # -- PyAudio -------------------------------------------------------------------------
    def _open_pyaudio(self, cfg: SpectrogramConfig, buffer_s: float) -> int:
        try:
            import pyaudio
        except ImportError:
            raise AvaffectError(
                "--mic-backend pyaudio needs PyAudio: pip install pyaudio (or use sounddevice)"
            ) from None
        self._pyaudio = pa = pyaudio.PyAudio()
        self._paContinue = pyaudio.paContinue
        info = self._pyaudio_device(pa)
        self.device_name = str(info["name"])
        rate = cfg.sample_rate
        try:
            pa.is_format_supported(
                rate, input_device=info["index"], input_channels=1, input_format=pyaudio.paFloat32
            )
        except ValueError:
            rate = int(info["defaultSampleRate"])
        self.ring = AudioRingBuffer(rate, buffer_s)
        try:
            self._stream = pa.open(
                format=pyaudio.paFloat32, channels=1, rate=rate, input=True,
                input_device_index=info["index"], frames_per_buffer=_BLOCK, stream_callback=self._pa_callback,
                start=False,
            )  # fmt: skip
            self._offset = clock_offset(self._stream.get_time, self._clock)
            self._stream.start_stream()
        except OSError as err:
            raise AvaffectError(
                f"cannot open microphone {self.device_name!r} ({err}); pass --no-audio"
            ) from None
        return rate

    def _pa_callback(self, in_data, frame_count, time_info, status):
        adc = time_info.get("input_buffer_adc_time", 0.0)
        start = (
            adc + self._offset if adc > 0 else self._clock() - frame_count / self.ring.sample_rate
        )
        self.ring.write(np.frombuffer(in_data, np.float32), start)
        return None, self._paContinue

    def _pyaudio_device(self, pa) -> dict:
        """The input device's info: by index, by (part of) its name, or the default."""
        try:
            if self.device is None:
                return pa.get_default_input_device_info()
            if isinstance(self.device, int):
                return pa.get_device_info_by_index(self.device)
        except (OSError, ValueError) as err:
            raise AvaffectError(
                f"no microphone {'found' if self.device is None else repr(self.device)} ({err}); "
                "pass --mic DEVICE or --no-audio"
            ) from None
        for i in range(pa.get_device_count()):
            info = pa.get_device_info_by_index(i)
            if self.device.lower() in str(info["name"]).lower() and info["maxInputChannels"] > 0:
                return info
        raise AvaffectError(
            f"no input device matching {self.device!r}; pass an index or --no-audio"
        )

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            if self.backend == "sounddevice":
                stream.stop()
            else:
                stream.stop_stream()
            stream.close()
        if self._pyaudio is not None:
            self._pyaudio.terminate()
            self._pyaudio = None
