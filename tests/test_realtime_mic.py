"""The microphone path through PortAudio (sounddevice), against a virtual ALSA capture device.

The device is defined in a private ~/.asoundrc (ALSA's ``file`` plugin reading a raw tone
over a ``null`` slave), so no sound card or sound server is needed; ALSA reads that file when
PortAudio starts, so the check runs in a subprocess with its own HOME.
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest


def portaudio_missing() -> str | None:
    if importlib.util.find_spec("sounddevice") is None:
        return "sounddevice is not installed (pip install 'avaffect[audio]')"
    try:
        import sounddevice  # noqa: F401
    except OSError as err:
        return f"the PortAudio library is missing ({err}); apt install libportaudio2"
    if not sys.platform.startswith("linux"):
        return "the virtual capture device is an ALSA one (Linux only)"
    return None


pytestmark = pytest.mark.skipif(portaudio_missing() is not None, reason=str(portaudio_missing()))

ASOUNDRC = """
pcm.avaffect_tone {{
    type plug
    slave {{ pcm "avaffect_tone_file"; format S16_LE; rate 44100; channels 1 }}
    hint.description "avaffect test tone"
}}
pcm.avaffect_tone_file {{
    type file
    slave.pcm "null"
    file "/dev/null"
    infile "{tone}"
    format "raw"
}}
"""

CHECK = textwrap.dedent(
    """
    import json, time
    from avaffect.audio import SpectrogramConfig
    from avaffect.realtime.mic_source import MicSource
    cfg = SpectrogramConfig(sample_rate=16000, context_s=0.5)
    mic = MicSource(cfg, device="avaffect_tone")
    start = time.monotonic()
    time.sleep(1.0)
    now = time.monotonic()
    newest = mic.available_until()
    spec, end = mic.spectrogram(now)
    peak = float(abs(mic.ring.window(newest, 4000)).max())
    mic.close()
    print(json.dumps({"start": start, "now": now, "newest": newest, "end": end,
                      "shape": list(spec.shape), "expected": list(cfg.shape), "peak": peak,
                      "rate": mic.ring.sample_rate, "lo": float(spec.min()), "hi": float(spec.max())}))
    """
)


def test_microphone_samples_arrive_stamped_on_the_monotonic_clock(tmp_path):
    t = np.arange(44100 * 6) / 44100
    (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2").tofile(tmp_path / "tone.raw")
    (tmp_path / ".asoundrc").write_text(ASOUNDRC.format(tone=tmp_path / "tone.raw"))
    env = {**os.environ, "HOME": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["rate"] == 16000  # the checkpoint's rate, which the device accepted
    assert out["peak"] > 0.1  # samples flowed through the callback into the ring buffer
    # The newest sample's capture time is "now" on the monotonic clock (within the device's latency).
    assert abs(out["newest"] - out["now"]) < 0.15
    assert out["end"] <= out["now"] and out["now"] - out["end"] < 0.15
    assert out["shape"] == out["expected"] and -1 <= out["lo"] < out["hi"] <= 1
