"""``facetrust verify IMAGE_A IMAGE_B``: same person or not (1:1)."""

from facetrust.commands._face_args import add_common, print_json


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "verify", help="are the largest faces of two images the same person? (1:1)",
        description='Prints {"same": bool, "similarity": float, "threshold": float} with --json: cosine '
        "similarity of the flip-fused normalised embeddings against the model's threshold.",
    )
    p.add_argument("image_a", help="first face image")
    p.add_argument("image_b", help="second face image: the same person as the first?")
    p.add_argument("--threshold", type=float, help="override the model's cosine-similarity threshold")
    add_common(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from facetrust.face.embedder import load_embedder
    from facetrust.face.ops import verify

    result = verify(args.image_a, args.image_b, load_embedder(args.model, args.detector), args.aligned, args.threshold)
    if args.json:
        print_json(result)
    else:
        verdict = "same person" if result["same"] else "different people"
        print(f"{verdict}: similarity {result['similarity']:.3f} (threshold {result['threshold']:.3f})")
    return 0
