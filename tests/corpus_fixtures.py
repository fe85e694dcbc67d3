"""Tiny on-disk fixtures for the corpus tests: fake unpacked Debian packages, a Qt .rcc writer, a fake TTS."""
from __future__ import annotations

import gzip
import io
import pathlib
import struct
import zlib

import numpy as np
import soundfile as sf
from PIL import Image


def png(rgb=(200, 40, 40), size=(40, 30), alpha=True, seed=0) -> bytes:
    """A textured picture; with `alpha`, an opaque blob on a transparent field (a cut-out)."""
    rng = np.random.default_rng(seed)
    h, w = size[1], size[0]
    arr = np.clip(np.array(rgb)[None, None] + rng.integers(-30, 30, (h, w, 3)), 0, 255).astype(np.uint8)
    if alpha:
        yy, xx = np.mgrid[:h, :w]
        a = (((yy - h / 2) / (h / 2.5)) ** 2 + ((xx - w / 2) / (w / 2.5)) ** 2 < 1).astype(np.uint8) * 255
        arr = np.dstack([arr, a])
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def webp(seed=0, size=(80, 60)) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(buf, format="WEBP")
    return buf.getvalue()


def tone(seconds=1.0, sr=16000, freq=220.0, amp=0.5, channels=1) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([x] * channels, 1) if channels > 1 else x


def wav(seconds=1.0, sr=16000, fmt="WAV", subtype=None, **kw) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, tone(seconds, sr, **kw), sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def write_rcc(files: dict[str, bytes], compress: tuple[str, ...] = ()) -> bytes:
    """A format-2 Qt resource file holding `files` ({"/a/b.txt": bytes}); paths in `compress` are zlib'd."""
    root: dict = {}
    for path, data in files.items():
        node = root
        parts = path.strip("/").split("/")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = (path, data)
    entries, first = [("", root)], {}
    i = 0
    while i < len(entries):
        if isinstance(entries[i][1], dict):
            first[i] = len(entries)
            entries.extend(sorted(entries[i][1].items()))
        i += 1
    names, data, tree = b"", b"", b""
    for idx, (name, node) in enumerate(entries):
        name_off = len(names)
        names += struct.pack(">HI", len(name), 0) + name.encode("utf-16-be")
        if isinstance(node, dict):
            tree += struct.pack(">IHII", name_off, 2, len(node), first[idx]) + bytes(8)
        else:
            path, raw = node
            flags = 1 if path in compress else 0
            payload = struct.pack(">I", len(raw)) + zlib.compress(raw) if flags else raw
            tree += struct.pack(">IHHHI", name_off, flags, 0, 0, len(data)) + bytes(8)
            data += struct.pack(">I", len(payload)) + payload
    return b"qres" + struct.pack(">IIII", 2, 20, 20 + len(tree), 20 + len(tree) + len(data)) + tree + data + names


FAKE_TTS = """#!/bin/sh
# Fake flite for tests: `-voice V -t TEXT -o OUT` copies a prepared WAV; text with FAIL fails, LONG is 6 s.
while [ $# -gt 0 ]; do case "$1" in -t) text="$2"; shift;; -o) out="$2"; shift;; esac; shift; done
here="$(dirname "$0")"
case "$text" in *FAIL*) exit 3;; *LONG*) cp "$here/long.wav" "$out";; *) cp "$here/say.wav" "$out";; esac
"""


def fake_tts(dir: pathlib.Path) -> pathlib.Path:
    """A stand-in for the flite binary (same command line), so the subprocess path runs without flite."""
    (dir / "say.wav").write_bytes(wav(1.0, 16000, freq=180.0))
    (dir / "long.wav").write_bytes(wav(6.0, 16000, freq=180.0))
    p = dir / "fake_flite"
    p.write_text(FAKE_TTS)
    p.chmod(0o755)
    return p


FAKE_ESPEAK = """#!/bin/sh
# Fake espeak-ng for tests: `--path=DATA -v V -w OUT -- TEXT` copies a prepared WAV (22.05 kHz, like espeak-ng);
# voice "broken" fails; the text is echoed to OUT.txt so tests can see what was said.
while [ $# -gt 0 ]; do case "$1" in -v) voice="$2"; shift;; -w) out="$2"; shift;; --) shift; text="$1";; esac; shift
done
here="$(dirname "$0")"
[ "$voice" = broken ] && exit 2
cp "$here/../share/fake-espeak/say.wav" "$out"; echo "$text" > "$out.txt"
"""


def fake_espeak(cache: pathlib.Path):
    """Fake trees of espeak-ng and the libraries it links: a shell-script binary, a data folder, copyrights."""
    from omni.data.corpus.speech import ESPEAK_PACKAGES
    for name in ESPEAK_PACKAGES:
        files: dict[str, bytes | str] = {f"usr/share/doc/{name}/copyright": "Files: *\nLicense: GPL-3+\n"}
        if name == "espeak-ng":
            files.update({"usr/bin/espeak-ng": FAKE_ESPEAK, "usr/share/fake-espeak/say.wav": wav(0.7, 22050)})
        if name == "espeak-ng-data":
            files["usr/lib/x86_64-linux-gnu/espeak-ng-data/phontab"] = b"\0"
        root = package(cache, name, files)
        if name == "espeak-ng":
            (root / "usr/bin/espeak-ng").chmod(0o755)


def package(cache: pathlib.Path, name: str, files: dict[str, bytes | str]) -> pathlib.Path:
    """An already-unpacked Debian package in a `DebianCache` folder (no apt needed)."""
    root = cache / name / "root"
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)
    (cache / name / ".unpacked").write_text(f"{name}_1.0-1_all.deb\n")
    return root


def make_packages(cache: pathlib.Path):
    """Fake trees of every Debian package the corpus reads, with injected bad files."""
    for name in ("flite", "libflite1"):  # the tests speak with a fake binary; these give license metadata
        package(cache, name, {f"usr/share/doc/{name}/copyright": "Files: *\nLicense: BSD-4-clause-CMU\n"})
    fake_espeak(cache)
    st = "usr/share/tuxpaint/stamps/animals"
    copyright_ = "Format: x\n\nFiles: *\nLicense: GPL-2+\n"
    package(cache, "tuxpaint-stamps-default", {
        "usr/share/doc/tuxpaint-stamps-default/copyright": copyright_,
        f"{st}/goat.png": png((230, 230, 230), seed=1), f"{st}/goat.txt": "A goat.\nfr.utf8=Une chèvre.\n",
        f"{st}/goat_desc.ogg": wav(0.8, 44100, fmt="OGG", subtype="VORBIS"), f"{st}/goat.ogg": wav(6.0, 22050),
        f"{st}/frog.png": png((40, 180, 40), seed=2), f"{st}/frog.txt": "A frog on a log.\n",
        f"{st}/fox.png": png((200, 100, 20), seed=3), f"{st}/fox.txt": "A red fox LONG.\n",
        f"{st}/owl.png": png((90, 70, 50), seed=4), f"{st}/owl.txt": "An owl at night FAIL.\n",
        # injected bad data: corrupt PNG, truncated PNG, non-UTF-8 caption, empty caption, SVG-only stamp
        f"{st}/broken.png": b"\x89PNG\r\n\x1a\n not really", f"{st}/broken.txt": "A broken picture.\n",
        f"{st}/cut.png": png(seed=5)[:120], f"{st}/cut.txt": "A cut-off picture.\n",
        f"{st}/latin.png": png(seed=6), f"{st}/latin.txt": "Une ch\xe8vre.\n".encode("latin-1"),
        f"{st}/blank.png": png(seed=7), f"{st}/blank.txt": "  \n",
        f"{st}/vector.svg": "<svg/>", f"{st}/vector.txt": "A vector drawing.\n",
    })
    snd = "usr/share/asterisk/sounds/en_US_f_Allison"
    package(cache, "asterisk-core-sounds-en", {
        "usr/share/doc/asterisk-core-sounds-en/copyright": "Files: *\nLicense: CC-BY-SA-3.0\n",
        "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz": gzip.compress(
            b"; Core sounds\n\nhello: Hello there.\ngoodbye: Goodbye.\ndigits/1: one\nbeep: [a beep tone]\n"
            b"lowrate: Too low a rate.\ncorrupt: Corrupt file.\nsilence/1: [silence]\nquiet: Nothing.\n"
            b"long: A very long prompt.\nmissing: Not on disk.\n"),
    })
    package(cache, "asterisk-core-sounds-en-wav", {
        "usr/share/doc/asterisk-core-sounds-en-wav/copyright": "Files: *\nLicense: CC-BY-SA-3.0\n",
        f"{snd}/hello.wav": wav(1.2, 8000), f"{snd}/goodbye.wav": wav(0.9, 48000, channels=2),
        f"{snd}/digits/1.wav": wav(0.5, 8000), f"{snd}/beep.wav": wav(0.3, 8000),
        f"{snd}/lowrate.wav": wav(1.0, 4000), f"{snd}/corrupt.wav": b"RIFF\x00\x00garbage",
        f"{snd}/silence/1.wav": wav(1.0, 8000, amp=0.0), f"{snd}/quiet.wav": wav(1.0, 8000, amp=0.001),
        f"{snd}/long.wav": wav(6.0, 8000),
    })
    verses = "\n".join(f"Ge{c}:{v} {'And God said, let there be light ' * (1 + v % 3)}."
                       for c in (1, 2, 3) for v in range(1, 8)) + "\nRev22:21 Amen.\n"
    bible = f"#!/bin/sh\ncat <<'EOF'\n{verses}\nEOF\n"
    package(cache, "bible-kjv-text", {"usr/lib/bible.data": b"EC02", "usr/share/doc/bible-kjv-text/copyright": "PD"})
    tool = package(cache, "bible-kjv", {"usr/bin/bible": bible})
    (tool / "usr/bin/bible").chmod(0o755)
    act = "gcompris/src/activities"
    board = ('QtObject { property var tab : [ { "image": "x.svg", "title": qsTr("Horse"), '
             '"text": qsTr("The horse goes \'neigh\'."), "audio": GCompris.ApplicationInfo.getAudioFilePath('
             f'"qrc:/{act}/explore_farm_animals/resource/animals/horse.$CA"), '
             f'"image2": "qrc:/{act}/explore_farm_animals/resource/animals/horse.webp", '
             '"text2": qsTr("This animal has hooves.") } ] }')
    details = ('property string instruction: qsTr("Gizah Pyramids, Egypt")\n levels: [ {\n'
               '"pixmapfile" : "image/Gizah_background.webp",\n "type" : "SHAPE_BACKGROUND_IMAGE" } ]')
    rccs = {
        "lang": {f"/{act}/lang/resource/content-en.json": b'{"apple.ogg": "apple"}',
                 f"/{act}/lang/resource/words_sample/apple.webp": webp(1),
                 f"/{act}/lang/resource/words_sample/eight.webp": webp(2),
                 f"/{act}/lang/resource/words_sample/Broken9.webp": b"RIFF0000WEBPjunk"},
        "details": {f"/{act}/details/resource/board/board1_0.qml": details.encode(),
                    f"/{act}/details/resource/image/Gizah_background.webp": webp(3)},
        "erase": {f"/{act}/erase/resource/goat.webp": webp(4), f"/{act}/erase/resource/red_panda.webp": webp(5),
                  f"/{act}/erase/resource/corrupt.webp": b"not a webp"},
        "categorization": {f"/{act}/categorization/resource/images/monuments/tajMahal.webp": webp(6)},
        "explore_farm_animals": {f"/{act}/explore_farm_animals/resource/board/board1.qml": board.encode(),
                                 f"/{act}/explore_farm_animals/resource/animals/horse.webp": webp(7),
                                 f"/{act}/explore_farm_animals/resource/animals/horse.ogg":
                                     wav(5.0, 44100, fmt="OGG", subtype="VORBIS")},
        **{k: {"/readme.txt": b"no boards"} for k in ("explore_world_animals", "explore_monuments",
                                                       "explore_world_music")},
    }
    package(cache, "gcompris-qt-data", {
        "usr/share/doc/gcompris-qt-data/copyright": "Files: *\nLicense: GPL-3+\n",
        **{f"usr/share/gcompris-qt/rcc/{k}.rcc": write_rcc(v, compress=tuple(v)[:1]) for k, v in rccs.items()},
    })
