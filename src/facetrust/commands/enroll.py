"""``facetrust enroll GALLERY NAME IMAGE...``: add a person's face to a gallery."""

from facetrust.commands._face_args import add_common, print_json


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "enroll", help="add a person to a face gallery (mean embedding of their images)",
        description="Embeds the largest face of each image with --model and adds it to NAME in GALLERY (a "
        "folder: gallery.safetensors + gallery.json, created when missing). The gallery keeps the model's "
        "hash: enrolling or identifying with another model is refused. Images without a face are reported.",
    )
    p.add_argument("gallery", help="gallery folder")
    p.add_argument("name", help="the person's name")
    p.add_argument("images", nargs="+", help="images of the person")
    add_common(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from facetrust.face.embedder import load_embedder
    from facetrust.face.ops import enroll

    result = enroll(args.gallery, args.name, args.images, load_embedder(args.model, args.detector), args.aligned)
    if args.json:
        print_json(result)
    else:
        for record in result["images"]:
            if "error" in record:
                print(f"skipped {record['image']}: {record['error']}")
        print(f"enrolled {result['name']!r}: {result['added']} image(s) added, {result['images_of_person']} in "
              f"total; {result['people']} people in {result['gallery']} ({result['model']})")
    return 0
