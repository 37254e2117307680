#!/usr/bin/python3
"""Ticket-like QR test images for bench-scan: drawn with segno (not our libqrencode
path), degraded with PIL the way a lobby camera sees them, and decoded with
zxing-cpp as the reference the C benchmark compares zbar against.

Usage: qr-corpus.py OUTDIR [--variants N] [--seed S] [--resolutions WxH,...]
       qr-corpus.py --check          exit 0 when every module below imports

Default resolutions: 640x480,1280x720 (N variants of each degradation at each).

Writes into OUTDIR (which must exist):
  DEG-WxH-NN.png  8-bit grayscale images, DEG one of DEGRADATIONS
  expected.txt    one line per image: file TAB degradation TAB WxH TAB text
  zxing.csv       file,ok,ms  (zxing-cpp on the decoded pixel array; ms excludes
                  PNG loading, so it compares with bench-scan's decode-only time)

The seed is fixed by default so two runs produce the same images. Texts are
"GK1:" + 144 random base45 characters (148, like a real ticket), ECC level M
without segno's error-level boost, so the symbol is the version a ticket gets.
"""
import math
import os
import random
import sys
import time

# Imported lazily so --check can report exactly what is missing.
REQUIRED = ("numpy", "PIL", "segno", "zxingcpp")

BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
RESOLUTIONS = ((640, 480), (1280, 720))
DEGRADATIONS = ("clean", "small", "rot5", "rot15", "rot45", "blur", "noise",
                "lowcontrast", "perspective", "moire")
SUPERSAMPLE = 2  # symbol drawn at 2x then box-filtered down: camera-like edges


def check_modules():
    missing = []
    for name in REQUIRED:
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    return missing


def ticket_text(rng):
    return "GK1:" + "".join(rng.choice(BASE45) for _ in range(144))


def perspective_coeffs(dst, src):
    """PIL's PERSPECTIVE maps output (dst) points back to input (src) points."""
    import numpy as np
    rows, rhs = [], []
    for (x, y), (u, v) in zip(dst, src):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    return np.linalg.solve(np.array(rows, float), np.array(rhs, float)).tolist()


def symbol_image(text, module_px):
    """The symbol plus a 4-module quiet zone, module_px pixels per module."""
    import numpy as np
    import segno
    from PIL import Image
    qr = segno.make(text, error="m", boost_error=False, micro=False)
    m = np.array([list(row) for row in qr.matrix], dtype=np.uint8)
    m = np.pad(m, 4, constant_values=0)
    img = np.where(m > 0, 0, 255).astype(np.uint8)
    img = np.kron(img, np.ones((module_px, module_px), np.uint8))
    return Image.fromarray(img, "L"), m.shape[0]


def render(rng, text, deg, width, height):
    import numpy as np
    from PIL import Image, ImageFilter

    ss = SUPERSAMPLE
    src_mod = 8  # source pixels per module before the (down)scaling transform
    sym, n_mod = symbol_image(text, src_mod)
    side_src = n_mod * src_mod

    # Symbol size on screen, in modules of the final image.
    if deg == "small":
        module = rng.uniform(1.6, 2.6)
    elif width >= 1920:
        module = rng.uniform(6.0, 13.0)
    elif width >= 1280:
        module = rng.uniform(4.0, 9.0)
    else:
        module = rng.uniform(2.8, 6.0)
    side = module * n_mod
    angle = {"rot5": 5.0, "rot15": 15.0, "rot45": 45.0}.get(deg, rng.uniform(-2.0, 2.0))
    angle *= rng.choice((-1, 1))
    half_diag = side * math.sqrt(0.5) * (abs(math.cos(math.radians(angle))) + abs(math.sin(math.radians(angle))))
    half_diag = min(half_diag, min(width, height) / 2 - 2)
    cx = rng.uniform(half_diag, width - half_diag)
    cy = rng.uniform(half_diag, height - half_diag)

    # Corners of the symbol square (TL, TR, BR, BL) around the centre.
    h = side / 2
    corners = [(-h, -h), (h, -h), (h, h), (-h, h)]
    if deg == "perspective":
        # Card tilted away about one axis: the far edge shrinks by 20-40%.
        k = rng.uniform(0.20, 0.40)
        if rng.random() < 0.5:  # tilt about the horizontal axis
            corners = [(-h * (1 - k), -h * (1 - k / 2)), (h * (1 - k), -h * (1 - k / 2)), (h, h), (-h, h)]
        else:
            corners = [(-h, -h), (h * (1 - k), -h * (1 - k)), (h * (1 - k), h * (1 - k)), (-h, h)]
        corners = [(x + rng.uniform(-0.04, 0.04) * side, y + rng.uniform(-0.04, 0.04) * side)
                   for x, y in corners]
    a = math.radians(angle)
    dst = [((cx + x * math.cos(a) - y * math.sin(a)) * ss, (cy + x * math.sin(a) + y * math.cos(a)) * ss)
           for x, y in corners]
    src = [(0, 0), (side_src, 0), (side_src, side_src), (0, side_src)]
    coeffs = perspective_coeffs(dst, src)
    big = (width * ss, height * ss)
    code = sym.transform(big, Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BILINEAR, fillcolor=0)
    mask = Image.new("L", sym.size, 255).transform(big, Image.Transform.PERSPECTIVE, coeffs,
                                                   Image.Resampling.BILINEAR, fillcolor=0)
    # Compositing is linear, so box-filtering symbol and mask first is the same
    # as filtering the composed scene, at a quarter of the cost.
    code = code.resize((width, height), Image.Resampling.BOX)
    mask = mask.resize((width, height), Image.Resampling.BOX)

    # Background: a lit desk/wall, a soft gradient plus low-frequency blotches.
    gy, gx = np.mgrid[0:height, 0:width].astype(np.float32)
    bg = rng.uniform(120, 190) + rng.uniform(-30, 30) * gx / width + rng.uniform(-30, 30) * gy / height
    blot = np.array(Image.fromarray(np.uint8(np.random.default_rng(rng.getrandbits(32)).integers(
        0, 255, (height // 40 + 1, width // 40 + 1))), "L").resize((width, height), Image.Resampling.BICUBIC),
        np.float32)
    bg += (blot - 128) * 0.15

    code_np = np.asarray(code, np.float32) / 255.0
    mask_np = np.asarray(mask, np.float32) / 255.0
    dark, light = rng.uniform(15, 45), rng.uniform(220, 250)
    if deg == "lowcontrast":
        # Dim light or glare: 28..56 grey levels between dark and light modules.
        mid = rng.uniform(100, 160)
        spread = rng.uniform(14, 28)
        dark, light = mid - spread, mid + spread
        bg = mid + (bg - 150) * 0.25
    sym_val = dark + (light - dark) * code_np
    f = bg * (1 - mask_np) + sym_val * mask_np
    nrng = np.random.default_rng(rng.getrandbits(32))

    if deg == "blur":
        img = Image.fromarray(np.clip(f, 0, 255).astype(np.uint8), "L").filter(
            ImageFilter.GaussianBlur(radius=rng.uniform(0.30, 0.55) * module))
        f = np.asarray(img, np.float32)
    elif deg == "noise":
        f = f + nrng.normal(0, rng.uniform(30, 50), f.shape)
    elif deg == "moire":
        # A phone screen filmed by a camera: the screen's pixel grid (period close
        # to the camera's pixel pitch, slightly rotated) beats into coarse bands.
        period = rng.uniform(2.1, 3.4)
        tilt = math.radians(rng.uniform(1, 8))
        u = gx * math.cos(tilt) + gy * math.sin(tilt)
        v = -gx * math.sin(tilt) + gy * math.cos(tilt)
        grid = (0.5 + 0.5 * np.sin(2 * math.pi * u / period)) * (0.5 + 0.5 * np.sin(2 * math.pi * v / period))
        amp = rng.uniform(0.25, 0.45)
        band = 1 + rng.uniform(0.10, 0.20) * np.sin(2 * math.pi * (u * 0.8 + v * 0.6) / rng.uniform(18, 40))
        f = f * (1 - amp + amp * grid) * band
        f = np.asarray(Image.fromarray(np.clip(f, 0, 255).astype(np.uint8), "L").filter(
            ImageFilter.GaussianBlur(radius=0.6)), np.float32)
    # Every camera frame has some sensor noise.
    f = f + nrng.normal(0, 3.0, f.shape)
    return Image.fromarray(np.clip(f, 0, 255).astype(np.uint8), "L")


def zxing_decode(arr):
    import zxingcpp
    t0 = time.perf_counter()
    results = zxingcpp.read_barcodes(arr, formats=zxingcpp.BarcodeFormat.QRCode)
    ms = (time.perf_counter() - t0) * 1000.0
    return [r.text for r in results], ms


def main(argv):
    if len(argv) == 2 and argv[1] == "--check":
        missing = check_modules()
        if missing:
            print("missing python3 modules: " + ", ".join(missing), file=sys.stderr)
            return 1
        return 0
    args = argv[1:]
    variants, seed, outdir, resolutions = 10, 20240601, None, RESOLUTIONS
    while args:
        a = args.pop(0)
        if a == "--variants" and args:
            variants = int(args.pop(0))
        elif a == "--seed" and args:
            seed = int(args.pop(0))
        elif a == "--resolutions" and args:
            resolutions = [tuple(int(v) for v in r.split("x")) for r in args.pop(0).split(",")]
        elif outdir is None and not a.startswith("-"):
            outdir = a
        else:
            print(__doc__, file=sys.stderr)
            return 2
    if outdir is None or variants < 1 or not os.path.isdir(outdir):
        print(__doc__, file=sys.stderr)
        return 2
    missing = check_modules()
    if missing:
        print("missing python3 modules: " + ", ".join(missing), file=sys.stderr)
        return 1
    import numpy as np

    expected, rows = [], []
    for deg in DEGRADATIONS:
        for (w, h) in resolutions:
            for i in range(variants):
                # One generator per image: image i is the same whatever
                # --variants or --resolutions say, so quick runs are a subset.
                rng = random.Random("%d-%s-%dx%d-%d" % (seed, deg, w, h, i))
                text = ticket_text(rng)
                img = render(rng, text, deg, w, h)
                name = "%s-%dx%d-%02d.png" % (deg, w, h, i)
                img.save(os.path.join(outdir, name))
                texts, ms = zxing_decode(np.asarray(img))
                expected.append("%s\t%s\t%dx%d\t%s\n" % (name, deg, w, h, text))
                rows.append("%s,%d,%.3f\n" % (name, int(text in texts), ms))
    with open(os.path.join(outdir, "expected.txt"), "w") as f:
        f.writelines(expected)
    with open(os.path.join(outdir, "zxing.csv"), "w") as f:
        f.write("file,ok,ms\n")
        f.writelines(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
