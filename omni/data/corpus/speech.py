"""Speech synthesis with flite (Debian's `flite` + `libflite1`) and espeak-ng (Debian's `espeak-ng`, its data and
the libraries it links), both run from the unpacked Debian cache, no install."""
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
# espeak-ng and every library its binary links that a bare Debian system lacks (libpcaudio0 pulls in PulseAudio's
# client, libsndfile1 and its codecs); the build never plays audio, but the dynamic loader needs them all.
ESPEAK_PACKAGES = ("espeak-ng", "libespeak-ng1", "espeak-ng-data", "libpcaudio0", "libsonic0", "libpulse0",
                   "libsndfile1", "libasyncns0", "libflac12", "libvorbis0a", "libvorbisenc2", "libopus0", "libogg0",
                   "libmpg123-0", "libmp3lame0")
ESPEAK_LICENSE = "espeak-ng: GPL-3.0-or-later; synthesized audio is unrestricted"


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


@dataclasses.dataclass
class Espeak:
    """Runs `binary --path DATA -v VOICE -w OUT.wav TEXT` (espeak-ng) and conforms the WAV to the media spec.

    Voices are espeak-ng's `language[+variant]` names, e.g. "en-us", "en-us+f2", "en-gb-scotland+m3"."""

    binary: pathlib.Path
    data_path: pathlib.Path | None = None  # the folder holding `espeak-ng-data/`
    lib_dirs: tuple[pathlib.Path, ...] = ()
    timeout_s: float = 30.0

    @classmethod
    def from_debian(cls, cache) -> Espeak:
        roots = {p: cache.root(p) for p in ESPEAK_PACKAGES}
        binary = roots["espeak-ng"] / "usr/bin/espeak-ng"
        data = sorted(roots["espeak-ng-data"].glob("usr/lib/*/espeak-ng-data"))
        if not binary.exists() or not data:
            raise FileNotFoundError(f"espeak-ng package trees lack usr/bin/espeak-ng or espeak-ng-data under "
                                    f"{roots['espeak-ng']}, {roots['espeak-ng-data']}")
        libs = sorted({p.parent for r in roots.values() for p in r.glob("usr/lib/*/**/lib*.so*")})
        return cls(binary=binary, data_path=data[0].parent, lib_dirs=tuple(libs))

    def say(self, text: str, spec: MediaSpec, voice: str = "en-us") -> np.ndarray:
        """Synthesize `text`: float32 mono [T] at spec rate; failures and over-long speech raise `Skip`."""
        env = dict(os.environ)
        if self.lib_dirs:
            env["LD_LIBRARY_PATH"] = ":".join([*map(str, self.lib_dirs), env.get("LD_LIBRARY_PATH", "")]).rstrip(":")
        with tempfile.TemporaryDirectory(prefix="tts-") as tmp:
            out = pathlib.Path(tmp) / "speech.wav"
            cmd = [str(self.binary), *([f"--path={self.data_path}"] if self.data_path else []), "-v", voice,
                   "-w", str(out), "--", text]
            try:
                r = subprocess.run(cmd, env=env, capture_output=True, timeout=self.timeout_s)
            except (OSError, subprocess.TimeoutExpired) as e:
                raise Skip("tts_failed", str(e)) from None
            if r.returncode != 0 or not out.exists():
                raise Skip("tts_failed", f"rc={r.returncode} {r.stderr.decode(errors='replace')[-200:]}")
            return load_audio(out.read_bytes(), spec)
