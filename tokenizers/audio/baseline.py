"""Classical baseline codecs for the audio tokenizer: Opus (libopus via imageio-ffmpeg's ffmpeg), mu-law PCM at
a reduced sample rate, and Codec2 (Debian's `codec2`, modes 1200 and 700C at 8 kHz), each with its payload bits.

`baseline_roundtrip(wave, sample_rate, target_bits_per_s)` picks Opus when the bundled ffmpeg has
libopus, at the lowest setting whose measured payload is >= the target (libopus codes speech at no
less than about 4.2 kbit/s, so at our 0.8-1.6 kbit/s it spends 2.6-5x more bits than the codec);
else mu-law. Bits count codec payload only (Ogg container framing and headers are excluded).
`opus_lowest_bitrate` finds the lowest `-b:a` at which libopus still codes speech (below it libopus emits
near silence). `Codec2.from_debian(cache)` runs c2enc/c2dec from the unpacked .debs; its bits are the
headerless bit file's size (700C packs its 28-bit frames into 4 bytes: 800 bit/s stored, 700 nominal).
"""
from __future__ import annotations

import functools
import os
import pathlib
import subprocess
import tempfile

import numpy as np
from omni_tokenizers.audio.resample import resample

FRAME_MS = 60  # longest Opus frame: least framing overhead at low rates
# Bitrate settings tried, lowest first. Below 3000 libopus (SILK) gives up on speech and emits near
# silence (about 0.2-0.3 kbit/s, measured); 3000 is its lowest working setting (~4.2 kbit/s payload).
OPUS_BITRATES = (3000, 4000, 5000, 6000, 8000, 12000, 16000, 24000, 32000)


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str | None:
    """Path of imageio-ffmpeg's ffmpeg binary, or None when it is unavailable."""
    try:  # imported here: any failure (missing package or binary) means no baseline codec, not an error
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # noqa: BLE001 - any failure means "no ffmpeg"
        return None


@functools.lru_cache(maxsize=1)
def has_libopus() -> bool:
    exe = ffmpeg_exe()
    if exe is None:
        return False
    out = subprocess.run([exe, "-hide_banner", "-encoders"], capture_output=True, text=True, check=False)
    return " libopus " in out.stdout


def _check_wave(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    x = np.asarray(wave)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"baseline codecs take one non-empty waveform [T], got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"waveform must be float in [-1, 1], got dtype {x.dtype}")
    if not np.all(np.isfinite(x)) or np.abs(x).max() > 1.0:
        raise ValueError("waveform values must be finite and lie in [-1, 1]")
    if int(sample_rate) <= 0:
        raise ValueError(f"sample_rate must be a positive integer, got {sample_rate}")
    return x.astype(np.float32)


def ogg_packet_sizes(data: bytes) -> list[int]:
    """Sizes (bytes) of the logical packets in a single-stream Ogg file, in order."""
    sizes, cur, pos = [], 0, 0
    while pos < len(data):
        if data[pos:pos + 4] != b"OggS":
            raise ValueError(f"corrupt Ogg stream: no page header at byte {pos}")
        n_seg = data[pos + 26]
        table = data[pos + 27:pos + 27 + n_seg]
        for lace in table:
            cur += lace
            if lace < 255:
                sizes.append(cur)
                cur = 0
        pos += 27 + n_seg + sum(table)
    return sizes


def opus_roundtrip(wave: np.ndarray, sample_rate: int, bitrate: int) -> tuple[np.ndarray, int]:
    """Encodes with libopus (VoIP mode, FRAME_MS frames) and decodes: (recon [T], payload bits)."""
    x = _check_wave(wave, sample_rate)
    exe = ffmpeg_exe()
    if exe is None or not has_libopus():
        raise ValueError("Opus baseline needs imageio-ffmpeg's ffmpeg built with libopus")
    pcm = ["-f", "f32le", "-ar", str(sample_rate), "-ac", "1"]
    opts = ["-c:a", "libopus", "-b:a", str(int(bitrate)), "-application", "voip",
            "-frame_duration", str(FRAME_MS), "-f", "ogg"]
    enc = subprocess.run([exe, "-hide_banner", "-loglevel", "error", *pcm, "-i", "pipe:0", *opts, "pipe:1"],
                         input=x.tobytes(), capture_output=True, check=False)
    if enc.returncode:
        raise RuntimeError(f"ffmpeg opus encode failed: {enc.stderr.decode(errors='replace')[-500:]}")
    bits = 8 * sum(ogg_packet_sizes(enc.stdout)[2:])  # skip the OpusHead and OpusTags packets
    dec = subprocess.run([exe, "-hide_banner", "-loglevel", "error", "-i", "pipe:0", *pcm, "pipe:1"],
                         input=enc.stdout, capture_output=True, check=False)
    if dec.returncode:
        raise RuntimeError(f"ffmpeg opus decode failed: {dec.stderr.decode(errors='replace')[-500:]}")
    y = np.frombuffer(dec.stdout, np.float32)
    y = np.pad(y, (0, max(0, len(x) - len(y))))[:len(x)]
    return align(x, y), bits


def align(ref: np.ndarray, est: np.ndarray, max_lag: int = 40) -> np.ndarray:
    """est shifted by the lag (|lag| <= max_lag samples) that best correlates it with ref, zero-filled.

    libopus + ffmpeg's resampler leave a 2-3 sample offset at 16 kHz; removing it gives the baseline
    its best SI-SNR.
    """
    n = len(ref)
    lags = range(-max_lag, max_lag + 1)
    core = slice(max_lag, n - max_lag) if n > 4 * max_lag else slice(0, n)
    best = max(lags, key=lambda k: float(np.dot(ref[core], np.roll(est, k)[core])))
    out = np.roll(est, best)
    if best > 0:
        out[:best] = 0.0
    elif best < 0:
        out[best:] = 0.0
    return out.astype(np.float32)


def mulaw_roundtrip(wave: np.ndarray, sample_rate: int, target_bits_per_s: float, bits_per_sample: int = 8
                    ) -> tuple[np.ndarray, int, int]:
    """mu-law PCM at the highest rate fitting the bit budget: (recon [T], bits, codec sample rate)."""
    x = _check_wave(wave, sample_rate)
    rate = int(target_bits_per_s // bits_per_sample)
    if rate < 1:
        raise ValueError(f"target {target_bits_per_s} bit/s is below one {bits_per_sample}-bit sample per second")
    levels = 2 ** bits_per_sample
    mu = levels - 1.0
    low = np.clip(resample(x, sample_rate, rate), -1.0, 1.0)
    comp = np.sign(low) * np.log1p(mu * np.abs(low)) / np.log1p(mu)
    q = np.clip(np.round((comp + 1) / 2 * mu), 0, mu)
    deq = q / mu * 2 - 1
    expanded = np.sign(deq) * ((1 + mu) ** np.abs(deq) - 1) / mu
    y = resample(expanded.astype(np.float32), rate, sample_rate)
    y = np.pad(y, (0, max(0, len(x) - len(y))))[:len(x)]
    return y, int(low.size * bits_per_sample), rate


def baseline_roundtrip(wave: np.ndarray, sample_rate: int, target_bits_per_s: float
                       ) -> tuple[np.ndarray, int, str]:
    """Classical codec at >= target_bits_per_s (Opus when available, else mu-law at the target).

    Returns (reconstruction [T] float32, payload bits for this item, codec name with its setting).
    """
    x = _check_wave(wave, sample_rate)
    if target_bits_per_s <= 0:
        raise ValueError(f"target_bits_per_s must be > 0, got {target_bits_per_s}")
    if has_libopus():
        seconds = len(x) / sample_rate
        for rate in OPUS_BITRATES:
            y, bits = opus_roundtrip(x, sample_rate, rate)
            if bits >= target_bits_per_s * seconds or rate == OPUS_BITRATES[-1]:
                return y, bits, f"opus@{rate}bps"
    y, bits, rate = mulaw_roundtrip(x, sample_rate, target_bits_per_s)
    return y, bits, f"mulaw8@{rate}Hz"


# --- Codec2 (Debian `codec2`, run from an unpacked .deb) and Opus at its lowest working bitrate --------------

CODEC2_MODES = {"1200": 1200, "700C": 700}  # mode -> nominal bit/s (40 ms frames: 48 and 28 bits)
CODEC2_FRAME_S = 0.04
CODEC2_RATE = 8000  # codec2 codes narrow-band speech: 8 kHz signed 16-bit raw PCM
CODEC2_PACKAGES = ("codec2", "libcodec2-1.0")
CODEC2_MAX_LAG = 800  # samples at 16 kHz (50 ms): codec2 + the 8 kHz round trip delay speech by ~10-30 ms


class Codec2:
    """`c2enc`/`c2dec` of Debian's codec2 unpacked by an `omni.data.corpus.debian.DebianCache` (no install)."""

    def __init__(self, bin_dir, lib_dir):
        self.bin_dir, self.lib_dir = pathlib.Path(bin_dir), pathlib.Path(lib_dir)
        for exe in ("c2enc", "c2dec"):
            if not (self.bin_dir / exe).is_file():
                raise FileNotFoundError(f"codec2 tree lacks {exe} under {self.bin_dir}")

    @classmethod
    def from_debian(cls, cache) -> Codec2:
        """cache: a DebianCache (fetches codec2 + libcodec2-1.0 with `apt-get download` on first use)."""
        tool, lib = cache.root(CODEC2_PACKAGES[0]), cache.root(CODEC2_PACKAGES[1])
        libs = sorted(lib.glob("usr/lib/*/libcodec2.so*"))
        if not libs:
            raise FileNotFoundError(f"libcodec2-1.0 tree lacks usr/lib/*/libcodec2.so* under {lib}")
        return cls(tool / "usr/bin", libs[0].parent)

    def _run(self, args: list[str]):
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = f"{self.lib_dir}:{env.get('LD_LIBRARY_PATH', '')}".rstrip(":")
        r = subprocess.run(args, env=env, capture_output=True, check=False, timeout=120)
        if r.returncode:
            raise RuntimeError(f"{args[0]} failed (rc={r.returncode}): {r.stderr.decode(errors='replace')[-300:]}")

    def roundtrip(self, wave: np.ndarray, sample_rate: int, mode: str) -> tuple[np.ndarray, int]:
        """Resamples to 8 kHz, codes with `mode` (headerless bit file), decodes and resamples back:
        (recon [T] at sample_rate, payload bits = the bit file's size: whole bytes per 40 ms frame)."""
        if mode not in CODEC2_MODES:
            raise ValueError(f"codec2 mode must be one of {sorted(CODEC2_MODES)}, got {mode!r}")
        x = _check_wave(wave, sample_rate)
        low = np.clip(resample(x, sample_rate, CODEC2_RATE), -1.0, 1.0)
        with tempfile.TemporaryDirectory(prefix="codec2-") as tmp:
            t = pathlib.Path(tmp)
            (t / "in.raw").write_bytes((low * 32767.0).astype("<i2").tobytes())
            self._run([str(self.bin_dir / "c2enc"), mode, str(t / "in.raw"), str(t / "out.bit")])
            bits = 8 * (t / "out.bit").stat().st_size
            self._run([str(self.bin_dir / "c2dec"), mode, str(t / "out.bit"), str(t / "out.raw")])
            y = np.frombuffer((t / "out.raw").read_bytes(), "<i2").astype(np.float32) / 32768.0
        y = resample(y, CODEC2_RATE, sample_rate)
        y = np.pad(y, (0, max(0, len(x) - len(y))))[:len(x)]
        return align(x, y.astype(np.float32), CODEC2_MAX_LAG), bits


def opus_works(wave: np.ndarray, sample_rate: int, bitrate: int, min_rms_ratio: float = 0.1) -> bool:
    """Whether libopus at `bitrate` codes this speech: it encodes and the decoded signal is not the near-silence
    libopus falls back to below its lowest speech mode (RMS >= min_rms_ratio of the input's)."""
    x = _check_wave(wave, sample_rate)
    try:
        y, _ = opus_roundtrip(x, sample_rate, bitrate)
    except RuntimeError:
        return False
    return float(np.sqrt(np.mean(y ** 2))) >= min_rms_ratio * float(np.sqrt(np.mean(x ** 2)) + 1e-12)


def opus_lowest_bitrate(clips, sample_rate: int, tries: tuple[int, ...] = tuple(range(6000, 499, -500))) -> int:
    """The lowest `-b:a` in `tries` (6000 down to 500 bit/s) at which Opus works (`opus_works`) on every clip."""
    if not has_libopus():
        raise ValueError("Opus baseline needs imageio-ffmpeg's ffmpeg built with libopus")
    best = None
    for rate in sorted(tries, reverse=True):
        if all(opus_works(c, sample_rate, rate) for c in clips):
            best = rate
        else:
            break
    if best is None:
        raise ValueError(f"Opus works at none of {tries} bit/s on these clips")
    return best
