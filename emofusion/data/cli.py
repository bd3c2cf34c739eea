"""`emofusion data`: get RAVDESS (download) and look at what a folder holds (index)."""

from __future__ import annotations

import argparse
from collections import Counter

HELP = "RAVDESS data: download it from Zenodo, or index a folder (counts, malformed names)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    d = sub.add_parser("download", help="download and extract RAVDESS archives from its Zenodo record")
    d.add_argument("dataset", choices=("ravdess",))
    d.add_argument("--out", required=True, help="folder to extract Actor_XX/ into")
    d.add_argument("--what", default="speech-audio,speech-video",
                   help="comma list of speech-audio, speech-video, song-audio, song-video "
                        "(default speech-audio,speech-video; speech video is ~1 GB per actor)")
    d.add_argument("--actors", help="only these actors, e.g. 1-4,9 (default all 24)")
    d.add_argument("--base-url", default="https://zenodo.org", help="Zenodo (or a mirror) base URL")
    d.add_argument("--record", default="1188976", help="Zenodo record id (default RAVDESS, 1188976)")
    d.add_argument("--keep-archives", action="store_true", help="keep the .zip files after extraction")
    i = sub.add_parser("index", help="count a RAVDESS folder's recordings by emotion, actor and source")
    i.add_argument("data_dir", metavar="DIR")
    i.add_argument("--include-song", action="store_true")
    p.set_defaults(_data_parser=p)


def run(args: argparse.Namespace) -> int:
    if args.data_command == "download":
        return _download(args)
    if args.data_command == "index":
        return _index(args)
    args._data_parser.print_help()
    return 2


def _download(args: argparse.Namespace) -> int:
    from emofusion.data.download import DownloadConfig, download_ravdess
    from emofusion.data.ravdess import ACTORS
    from emofusion.data.splits import parse_actor_list

    # DownloadError and SplitError are EmofusionErrors: the CLI prints them as one line
    what = [w.strip() for w in args.what.split(",") if w.strip()]
    actors = parse_actor_list(args.actors) if args.actors else ACTORS
    cfg = DownloadConfig(base_url=args.base_url, record=args.record, keep_archives=args.keep_archives)
    placed = download_ravdess(args.out, what, actors, cfg)
    for name, n in placed.items():
        print(f"{name}: {n} files")
    print(f"RAVDESS in {args.out}: {sum(placed.values())} files from {len(placed)} archives")
    return 0


def _index(args: argparse.Namespace) -> int:
    from emofusion.constants import CLASSES
    from emofusion.errors import UsageError
    from emofusion.data.ravdess import index_ravdess

    try:
        ix = index_ravdess(args.data_dir, include_song=args.include_song)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    print(f"{len(ix.items)} recordings in {args.data_dir}")
    by_source = Counter(r.source for r in ix.items)
    print("by source: " + ", ".join(f"{k} {v}" for k, v in sorted(by_source.items())))
    by_emotion = Counter(r.label for r in ix.items)
    print("by emotion: " + ", ".join(f"{CLASSES[c]} {by_emotion[c]}" for c in range(len(CLASSES))))
    by_actor = Counter(r.actor for r in ix.items)
    print("by actor: " + " ".join(f"{a:02d}:{n}" for a, n in sorted(by_actor.items())))
    by_channel = Counter(r.name.channel_name for r in ix.items)
    if len(by_channel) > 1:
        print("by channel: " + ", ".join(f"{k} {v}" for k, v in sorted(by_channel.items())))
    if ix.ignored:
        print(f"{len(ix.ignored)} files ignored:")
        for path, why in ix.ignored[:20]:
            print(f"  {path}: {why}")
    if ix.malformed:
        print(f"{len(ix.malformed)} malformed names:")
        for m in ix.malformed:
            print(f"  {m.path}: {m.reason}")
    return 0
