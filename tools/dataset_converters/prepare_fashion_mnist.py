"""Lay out Fashion-MNIST for mmpretrain's ``FashionMNIST`` dataset from local ``.gz`` files; nothing downloads.

    apt-get install dataset-fashion-mnist   # Debian: the four .gz files in /usr/share/datasets/fashion-mnist
    python tools/dataset_converters/prepare_fashion_mnist.py [--src DIR] [--out data/fashion-mnist]

mmpretrain's ``FashionMNIST`` reads the uncompressed IDX files and would otherwise try to download them; this
decompresses each ``.gz`` into ``--out`` (the configs' default ``data_root``; ``FASHION_MNIST_ROOT`` overrides it)
and checks its IDX header: magic number, 60,000 or 10,000 items, 28 x 28 images. (Debian re-compresses the
files, so the MD5 sums of the original ``.gz`` files do not apply.) Files already in place are checked and kept.
"""
import argparse
import gzip
import os
import os.path as osp
import shutil
import struct
import sys
import tempfile

DEBIAN_DIR = '/usr/share/datasets/fashion-mnist'


# file -> (IDX magic number: unsigned bytes with 3 dimensions for images, 1 for labels; item count)
FILES = {
    'train-images-idx3-ubyte.gz': (2051, 60000),
    'train-labels-idx1-ubyte.gz': (2049, 60000),
    't10k-images-idx3-ubyte.gz': (2051, 10000),
    't10k-labels-idx1-ubyte.gz': (2049, 10000),
}


def check_idx(path: str, magic: int, count: int) -> None:
    """Raise ``ValueError`` unless ``path`` is an IDX file with this magic number, item count and 28 x 28 items."""
    with open(path, 'rb') as f:
        header = f.read(16 if magic == 2051 else 8)
        size = osp.getsize(path)
    fields = struct.unpack('>' + 'I' * (len(header) // 4), header) if len(header) in (8, 16) else ()
    expected = (magic, count) + ((28, 28) if magic == 2051 else ())
    item = 28 * 28 if magic == 2051 else 1
    if fields != expected or size != len(header) + count * item:
        raise ValueError(f'{path} is not a Fashion-MNIST IDX file (header {fields}, {size} bytes; expected header '
                         f'{expected}, {len(header) + count * item} bytes): delete it and run this script again')


def prepare(src: str = DEBIAN_DIR, out: str = 'data/fashion-mnist') -> str:
    """Check and decompress the four files from ``src`` into ``out``; return ``out``."""
    missing = [name for name in FILES if not osp.isfile(osp.join(src, name))]
    if missing:
        raise FileNotFoundError(
            f'Fashion-MNIST files {missing} not found in {src}: install them with '
            "'apt-get install dataset-fashion-mnist' (Debian), or pass --src with a folder holding the four original "
            '.gz files from https://github.com/zalandoresearch/fashion-mnist')
    os.makedirs(out, exist_ok=True)
    for name, (magic, count) in FILES.items():
        target = osp.join(out, name[:-len('.gz')])
        if osp.isfile(target):
            check_idx(target, magic, count)
            continue
        # decompress next to the target and rename, so that an interrupted run leaves no half-written file
        fd, tmp = tempfile.mkstemp(dir=out, prefix='.' + osp.basename(target))
        with os.fdopen(fd, 'wb') as dst, gzip.open(osp.join(src, name), 'rb') as gz:
            shutil.copyfileobj(gz, dst)
        try:
            check_idx(tmp, magic, count)
        except ValueError:
            os.remove(tmp)
            raise
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--src', default=DEBIAN_DIR, help=f'folder with the four .gz files (default {DEBIAN_DIR})')
    parser.add_argument('--out', default='data/fashion-mnist', help='data_root of the configs')
    args = parser.parse_args(argv)
    print(f'Fashion-MNIST ready in {prepare(args.src, args.out)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
