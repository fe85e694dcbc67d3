"""GCompris photos with their English names and descriptions, read from the Qt resources of gcompris-qt-data."""
from __future__ import annotations

import json
import pathlib
import re
from collections.abc import Iterator

from omni.data.corpus.audio import load_audio
from omni.data.corpus.images import load_image
from omni.data.corpus.rcc import RccError, read_rcc
from omni.data.corpus.schema import make_example
from omni.data.corpus.skips import Skip
from omni.data.corpus.source import Candidate, Context, source
from omni.data.corpus.speech import PACKAGES as SPEECH_PACKAGES
from omni.data.corpus.text import clean_text

NAME = "gcompris"
VERSION = 1
LICENSE = ("GPL-3.0-or-later (GCompris); photos CC0, CC-BY-SA or public domain as listed in the README "
           "beside each image folder in gcompris-qt-data")
PACKAGES = ("gcompris-qt-data", *SPEECH_PACKAGES)  # flite speaks the captions
RCC_DIR = "usr/share/gcompris-qt/rcc"
ACT = "/gcompris/src/activities"
EXPLORE = ("explore_farm_animals", "explore_world_animals", "explore_monuments", "explore_world_music")
FOLDERS = {  # activity image folder -> category shown in captions
    "erase/resource": "animal", "categorization/resource/images/monuments": "monument",
    "categorization/resource/images/tools": "tool", "categorization/resource/images/others": "object",
    "categorization/resource/images/renewable": "renewable energy",
    "categorization/resource/images/fishes": "fish",
}
_OBJ = re.compile(r"\{[^{}]*\}")
_FIELD = re.compile(r'"(\w+)"\s*:\s*(?:qsTr\(\s*)?"((?:[^"\\]|\\.)*)"')
_INSTRUCTION = re.compile(r'property string instruction:\s*qsTr\("((?:[^"\\]|\\.)*)"\)')
_PIXMAP = re.compile(r'"pixmapfile"\s*:\s*"([^"]+)",\s*"type"\s*:\s*"SHAPE_BACKGROUND_IMAGE"')
_AUDIO = re.compile(r'getAudioFilePath\("qrc:([^"]+)\.\$CA"\)')


def settings(cfg) -> dict:
    return {"explore": EXPLORE, "folders": FOLDERS}


def resources(root: pathlib.Path, activities) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for act in activities:
        path = root / RCC_DIR / f"{act}.rcc"
        if not path.exists():
            raise FileNotFoundError(f"GCompris resource {path} missing (is gcompris-qt-data complete?)")
        try:
            files.update(read_rcc(path.read_bytes()))
        except RccError as e:
            raise RccError(f"{path}: {e}") from None
    return files


def words_of(stem: str) -> str:
    """`leaningTowerOfPisa` / `nubian_ibex` / `fish12` -> `leaning tower of pisa` / `nubian ibex` / `fish`."""
    s = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", stem)
    s = re.sub(r"[_\-\d]+", " ", s)
    return " ".join(s.split()).lower()


def _unescape(s: str) -> str:
    return s.encode("utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8") if "\\" in s else s


def _image_example(ctx, files, path, item, text, label, speak=True, suffix=""):
    if path not in files:
        raise Skip("missing_file", path)
    image = load_image(files[path], ctx.spec, fit="crop")
    text = clean_text(text)
    audio, voice = ctx.speak(text, item + suffix) if speak else (None, "")
    return make_example(id=item + suffix, source=NAME, item=item, text=text, image=image, audio=audio,
                        label=dict(label, speech=voice) if voice else label)


def _capital(s: str) -> str:
    return s[:1].upper() + s[1:]


@source(NAME, version=VERSION, license=LICENSE, packages=PACKAGES, settings=settings, order=20)
def candidates(ctx: Context) -> Iterator[Candidate]:
    root = ctx.debs.root(PACKAGES[0])
    files = resources(root, ("lang", "details", "erase", "categorization") + EXPLORE)
    # 1. word pictures with their English word (the lesson vocabulary).
    words = json.loads(files[f"{ACT}/lang/resource/content-en.json"].decode("utf-8"))
    for path in sorted(p for p in files if p.startswith(f"{ACT}/lang/resource/words_sample/") and p.endswith(".webp")):
        stem = path.rsplit("/", 1)[1][:-5]
        word = words.get(f"{stem}.ogg", "") or (stem.replace("_", " ") if re.fullmatch(r"[a-z_]+", stem) else "")
        item = f"{NAME}/words/{stem}"
        yield Candidate(path, lambda p=path, i=item, w=word: _image_example(
            ctx, files, p, i, f"{_capital(w)}." if w else "", {"object": w, "category": "word"}))
    # 2. explore activities: photo + title (spoken) + description + hint, and the item's sound.
    for act in EXPLORE:
        for board in sorted(p for p in files if p.startswith(f"{ACT}/{act}/resource/board/") and p.endswith(".qml")):
            qml = files[board].decode("utf-8", errors="strict")
            for block in _OBJ.findall(qml):
                f = {k: _unescape(v) for k, v in _FIELD.findall(block)}
                img = f.get("image2", "").replace("qrc:", "")
                if not img.endswith((".webp", ".png", ".jpg")) or not f.get("title"):
                    continue
                stem = img.rsplit("/", 1)[1].rsplit(".", 1)[0]
                item = f"{NAME}/{act}/{stem}"
                audio = _AUDIO.search(block)
                yield Candidate(img, lambda img=img, item=item, f=f, act=act, audio=audio: _explore(
                    ctx, files, img, item, f, act, audio.group(1) + ".ogg" if audio else None))
    # 3. landmark photos of the "details" activity with their caption.
    for board in sorted(p for p in files if p.startswith(f"{ACT}/details/resource/board/")):
        qml = files[board].decode("utf-8")
        ins, bg = _INSTRUCTION.search(qml), _PIXMAP.search(qml)
        if ins and bg:
            path = f"{ACT}/details/resource/{bg.group(1)}"
            item = f"{NAME}/details/{bg.group(1).rsplit('/', 1)[1].rsplit('_', 1)[0]}"
            yield Candidate(path, lambda p=path, i=item, t=_unescape(ins.group(1)): _image_example(
                ctx, files, p, i, t, {"category": "landmark"}))
    # 4. named photos (animals, monuments, tools, ...): the file name is the caption.
    for folder, cat in FOLDERS.items():
        for path in sorted(p for p in files if p.startswith(f"{ACT}/{folder}/") and p.endswith(".webp")):
            rel = path[len(f"{ACT}/{folder}/"):]
            if "/" in rel:
                continue
            obj = words_of(rel[:-5])
            obj = obj.title() if cat == "monument" else obj
            text = f"{_capital(cat)}: {obj}." if obj.lower() != cat else f"{_capital(cat)}."
            item = f"{NAME}/{folder.split('/')[0]}/{rel[:-5]}"
            yield Candidate(path, lambda p=path, i=item, t=text, o=obj, c=cat: _image_example(
                ctx, files, p, i, t, {"object": o, "category": c}))


def _explore(ctx, files, img, item, f, act, audio_path):
    title = clean_text(f["title"])
    out = [_image_example(ctx, files, img, item, f"{title}.", {"object": title, "category": act}, suffix="/title")]
    if f.get("text"):
        out.append(_image_example(ctx, files, img, item, f"{title}: {f['text']}", {"object": title, "category": act},
                                  speak=False, suffix="/description"))
    if f.get("text2") and f["text2"] != f["title"]:
        out.append(_image_example(ctx, files, img, item, f["text2"], {"object": title, "category": act},
                                  suffix="/hint"))
    if audio_path and audio_path in files:
        try:
            sound = load_audio(files[audio_path], ctx.spec, crop=True)
            text = f"Music from {title}." if act == "explore_world_music" else f"The sound of the {title.lower()}."
            out.append(make_example(id=f"{item}/sound", source=NAME, item=item, text=text, audio=sound,
                                    label={"object": title, "kind": "music" if "music" in act else "sound_effect"}))
        except Skip as s:
            ctx.notes[f"sound_dropped_{s.reason}"] += 1
    return out
