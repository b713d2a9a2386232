"""``facetrust identify GALLERY IMAGE...``: who is each face (1:N), or "unknown"."""

from facetrust.commands._face_args import add_common, print_json


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "identify", help="name every face in images against a gallery (1:N), unknown below the threshold",
        description="Every face of every image is compared with each enrolled person's mean embedding "
        "(cosine similarity); the best match is reported when its similarity reaches the model's "
        "threshold, else 'unknown'. Exit status 1 when no image had a face.",
    )
    p.add_argument("gallery", help="gallery folder made by `facetrust enroll`")
    p.add_argument("images", nargs="+", help="images to identify")
    p.add_argument("--threshold", type=float, help="override the model's cosine-similarity threshold")
    add_common(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from facetrust.face.embedder import load_embedder
    from facetrust.face.ops import identify

    result = identify(args.gallery, args.images, load_embedder(args.model, args.detector), args.aligned, args.threshold)
    if args.json:
        print_json(result)
    else:
        for record in result["images"]:
            if "error" in record:
                print(f"{record['image']}: {record['error']}")
            for face in record["faces"]:
                print(f"{record['image']}: {face['identity']} (similarity {face['similarity']:.3f}, "
                      f"threshold {face['threshold']:.3f}, box {face['box']})")
    return 0 if any(r["faces"] for r in result["images"]) else 1
