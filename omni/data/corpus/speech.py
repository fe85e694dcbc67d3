"""Speech synthesis with flite (Debian's `flite` + `libflite1`, run from the unpacked cache, no install)."""
from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib
import subprocess
import tempfile

import numpy as np

from omni.data.corpus.audio import load_audio
from omni.data.corpus.skips import Skip
from omni.data.corpus.spec import MediaSpec

PACKAGES = ("flite", "libflite1")
LICENSE = "flite: BSD-style (Carnegie Mellon University, University of Edinburgh); synthesized audio is unrestricted"
VOICES = ("slt", "rms", "awb", "kal16")  # the 16 kHz voices built into Debian's flite


@dataclasses.dataclass
class Speaker:
    """Runs `binary -voice V -t TEXT -o OUT.wav` and conforms the WAV to the media spec."""

    binary: pathlib.Path
    lib_dir: pathlib.Path | None = None
    voices: tuple[str, ...] = VOICES
    timeout_s: float = 30.0

    @classmethod
    def from_debian(cls, cache) -> Speaker:
        flite, lib = cache.root("flite"), cache.root("libflite1")
        binary = flite / "usr/bin/flite"
        libdirs = sorted(lib.glob("usr/lib/*/libflite.so*"))
        if not binary.exists() or not libdirs:
            raise FileNotFoundError(f"flite package tree lacks usr/bin/flite or libflite.so under {flite}, {lib}")
        return cls(binary=binary, lib_dir=libdirs[0].parent)

    def voice_for(self, key: str) -> str:
        """A stable voice choice per example, so rebuilding gives the same audio."""
        return self.voices[int(hashlib.sha1(key.encode()).hexdigest(), 16) % len(self.voices)]

    def say(self, text: str, spec: MediaSpec, voice: str | None = None) -> np.ndarray:
        """Synthesize `text`: float32 mono [T] at spec rate; failures and over-long speech raise `Skip`."""
        voice = voice or self.voices[0]
        env = dict(os.environ)
        if self.lib_dir is not None:
            env["LD_LIBRARY_PATH"] = f"{self.lib_dir}:{env.get('LD_LIBRARY_PATH', '')}".rstrip(":")
        with tempfile.TemporaryDirectory(prefix="tts-") as tmp:
            out = pathlib.Path(tmp) / "speech.wav"
            try:
                r = subprocess.run([str(self.binary), "-voice", voice, "-t", text, "-o", str(out)],
                                   env=env, capture_output=True, timeout=self.timeout_s)
            except (OSError, subprocess.TimeoutExpired) as e:
                raise Skip("tts_failed", str(e)) from None
            if r.returncode != 0 or not out.exists():
                raise Skip("tts_failed", f"rc={r.returncode} {r.stderr.decode(errors='replace')[-200:]}")
            return load_audio(out.read_bytes(), spec)
