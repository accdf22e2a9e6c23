"""Every dataset loader, on small files generated here in the exact native format."""

from __future__ import annotations

import warnings
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io

from runtime.card import EMOTION_LABELS, GENDER_LABELS
from train.datasets import detect_format, load_dataset
from train.datasets.base import DatasetError, FaceDataset
from train.datasets.fer_csv import load_fer2013_csv
from train.datasets.ferplus import (
    FERPLUS_COLUMNS,
    ferplus_to_fer_soft,
    load_ferplus_votes,
    majority,
)
from train.datasets.image_folder import load_fer_folder, load_image_folder
from train.datasets.imdb_wiki import IMDB_GENDER_TO_LABEL, datenum_year, load_imdb_wiki
from train.datasets.npz import expand_parts, load_npz
from train.datasets.utkface import (
    UTK_GENDER_TO_LABEL,
    load_utkface,
    looks_like_utkface,
    parse_utk_name,
)

RED_RGB = (255, 0, 0)
MAN, WOMAN = GENDER_LABELS.index("man"), GENDER_LABELS.index("woman")


# ----------------------------------------------------------------------------- writers


def face48(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (48, 48), dtype=np.uint8)


def write_fer_csv(
    path: Path, rows: list[tuple[int, np.ndarray | str, str]], header: str = "emotion,pixels,Usage"
) -> Path:
    lines = [header]
    for emotion, pixels, usage in rows:
        text = pixels if isinstance(pixels, str) else " ".join(map(str, pixels.ravel()))
        fields = {"emotion": str(emotion), "pixels": text, "usage": usage}
        lines.append(",".join(fields[h.strip().lower()] for h in header.split(",")))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_ferplus_csv(
    path: Path,
    usages: list[str],
    names: list[str],
    votes: np.ndarray,
    columns: tuple[str, ...] = FERPLUS_COLUMNS,
) -> Path:
    by_name = dict(zip(FERPLUS_COLUMNS, np.asarray(votes).T))
    lines = ["Usage,Image name," + ",".join(columns)]
    for i, (u, n) in enumerate(zip(usages, names)):
        lines.append(f"{u},{n}," + ",".join(str(int(by_name[c][i])) for c in columns))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_image(path: Path, rgb_or_gray: np.ndarray) -> Path:
    """Write an RGB (or gray) image the way any tool would: cv2 wants BGR, so flip first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = rgb_or_gray if rgb_or_gray.ndim == 2 else cv2.cvtColor(rgb_or_gray, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(path.suffix, img)
    assert ok
    buf.tofile(path)
    return path


def solid(rgb: tuple[int, int, int], size: int | tuple[int, int] = 16) -> np.ndarray:
    h, w = (size, size) if isinstance(size, int) else size
    return np.full((h, w, 3), rgb, np.uint8)


def datenum(y: int, m: int, d: int) -> float:
    """MATLAB datenum of a date (days since year 0), as IMDB-WIKI stores birth dates."""
    return float(datetime(y, m, d).toordinal() + 366)


# ----------------------------------------------------------------------------- FER csv

FER_ROWS = [
    (0, "Training"),
    (3, "PublicTest"),
    (6, "Training"),
    (2, "PrivateTest"),
    (4, "Training"),
    (5, "PublicTest"),
]
# FER+ votes per row: neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF
FERPLUS_VOTES = np.array(
    [
        [4, 0, 0, 1, 3, 2, 0, 0, 0, 0],  # neutral majority -> 6
        [0, 10, 0, 0, 0, 0, 0, 0, 0, 0],  # happy -> 3
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 10],  # "not a face": blank Image name, no usable vote
        [0, 0, 6, 0, 0, 0, 4, 0, 0, 0],  # surprise -> 5
        [2, 0, 0, 8, 0, 0, 0, 0, 0, 0],  # sad -> 4
        [0, 0, 0, 0, 0, 0, 0, 7, 3, 0],  # contempt/unknown only: no FER2013 class
    ],
    np.uint8,
)


@pytest.fixture
def fer_csv(tmp_path: Path) -> Path:
    rows = [(e, face48(i), u) for i, (e, u) in enumerate(FER_ROWS)]
    return write_fer_csv(tmp_path / "fer2013.csv", rows)


def write_ferplus_for(folder: Path, name: str = "fer2013new.csv", votes=FERPLUS_VOTES, usages=None) -> Path:
    usages = usages or [u for _, u in FER_ROWS]
    names = [f"fer{i:07d}.png" if i != 2 else "" for i in range(len(votes))]
    return write_ferplus_csv(folder / name, usages, names, votes)


def test_fer_csv_training_rows_labels_pixels(fer_csv: Path) -> None:
    ds = load_fer2013_csv(fer_csv)
    assert isinstance(ds, FaceDataset)
    assert ds.images.shape == (3, 48, 48) and ds.images.dtype == np.uint8
    assert ds.meta["row"].tolist() == [0, 2, 4] and ds.meta["row"].dtype == np.int32
    assert ds.labels.tolist() == [0, 6, 4]
    assert [ds.label_names[i] for i in ds.labels] == ["angry", "neutral", "sad"]
    assert ds.label_names == list(EMOTION_LABELS) and ds.order == "gray"
    for k, row in enumerate(ds.meta["row"]):
        np.testing.assert_array_equal(ds.images[k], face48(int(row)))
    assert ds.soft is None and "ferplus" not in ds.meta


@pytest.mark.parametrize(
    "usage, rows",
    [
        ("PublicTest", [1, 5]),
        ("PrivateTest", [3]),
        ("publictest", [1, 5]),
        (None, [0, 1, 2, 3, 4, 5]),
        ("all", [0, 1, 2, 3, 4, 5]),
    ],
)
def test_fer_csv_usage_filter(fer_csv: Path, usage, rows) -> None:
    ds = load_fer2013_csv(fer_csv, usage=usage)
    assert ds.meta["row"].tolist() == rows
    assert ds.labels.tolist() == [FER_ROWS[r][0] for r in rows]


def test_fer_csv_unknown_usage(fer_csv: Path) -> None:
    with pytest.raises(DatasetError, match="no rows with Usage 'Validation'.*PublicTest"):
        load_fer2013_csv(fer_csv, usage="Validation")


def test_fer_csv_column_order_and_spaces_variant(tmp_path: Path) -> None:
    """Kaggle's icml_face_data.csv spells the header 'emotion, Usage, pixels'."""
    rows = [(e, face48(i), u) for i, (e, u) in enumerate(FER_ROWS)]
    path = write_fer_csv(tmp_path / "icml_face_data.csv", rows, header="emotion, Usage, pixels")
    ds = load_fer2013_csv(path, usage="PublicTest")
    assert ds.labels.tolist() == [3, 5]
    np.testing.assert_array_equal(ds.images[1], face48(5))


def test_fer_csv_with_ferplus_sidecar_aligns_by_row(fer_csv: Path) -> None:
    write_ferplus_for(fer_csv.parent)
    ds = load_fer2013_csv(fer_csv, usage=None)
    assert ds.meta["ferplus"].dtype == np.uint8 and ds.meta["ferplus"].shape == (6, 10)
    np.testing.assert_array_equal(ds.meta["ferplus"], FERPLUS_VOTES)
    # votes 4 neutral, 1 sad, 3 angry, 2 disgust (contempt/unknown/NF ignored) -> /10
    np.testing.assert_allclose(ds.soft[0], [0.3, 0.2, 0, 0, 0.1, 0, 0.4], atol=1e-6)
    assert majority(ds.soft).tolist() == [6, 3, -1, 5, 4, -1]
    # FER2013's own labels are untouched; only soft/meta come from FER+
    assert ds.labels.tolist() == [e for e, _ in FER_ROWS]

    train = load_fer2013_csv(fer_csv, usage="Training")
    np.testing.assert_array_equal(train.meta["ferplus"], FERPLUS_VOTES[[0, 2, 4]])
    assert majority(train.soft).tolist() == [6, -1, 4]


def test_fer_csv_with_explicit_ferplus_path(fer_csv: Path, tmp_path: Path) -> None:
    (tmp_path / "votes").mkdir()
    votes = write_ferplus_for(tmp_path / "votes", name="ferplus_votes.csv")
    ds = load_fer2013_csv(fer_csv, usage="PublicTest", ferplus=votes)
    np.testing.assert_array_equal(ds.meta["ferplus"], FERPLUS_VOTES[[1, 5]])
    np.testing.assert_allclose(ds.soft, ferplus_to_fer_soft(FERPLUS_VOTES[[1, 5]]))


def test_fer_csv_ferplus_row_count_mismatch(fer_csv: Path) -> None:
    write_ferplus_for(fer_csv.parent, votes=FERPLUS_VOTES[:5], usages=[u for _, u in FER_ROWS[:5]])
    with pytest.raises(DatasetError, match="5 rows but .* has 6"):
        load_fer2013_csv(fer_csv)


def test_fer_csv_ferplus_usage_mismatch_means_misaligned(fer_csv: Path) -> None:
    usages = [u for _, u in FER_ROWS]
    usages[1], usages[3] = usages[3], usages[1]
    write_ferplus_for(fer_csv.parent, usages=usages)
    with pytest.raises(DatasetError, match="row 1 .*do not line up"):
        load_fer2013_csv(fer_csv)


def test_fer_csv_missing_ferplus_file(fer_csv: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        load_fer2013_csv(fer_csv, ferplus=tmp_path / "nope.csv")


@pytest.mark.parametrize(
    "header, rows, message",
    [
        ("emotion,Usage", [(0, "", "Training")], "lacks column.*pixels"),
        ("pixels,Usage", [(0, face48(0), "Training")], "lacks column.*emotion"),
        ("emotion,pixels", [(0, face48(0), "Training")], "lacks column.*usage"),
    ],
)
def test_fer_csv_missing_columns(tmp_path: Path, header, rows, message) -> None:
    lines = [header] + [
        ",".join(
            {
                "emotion": str(e),
                "pixels": " ".join(map(str, p.ravel())) if not isinstance(p, str) else p,
                "usage": u,
            }[h.lower()]
            for h in header.split(",")
        )
        for e, p, u in rows
    ]
    path = tmp_path / "fer2013.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=message):
        load_fer2013_csv(path)


def test_fer_csv_without_usage_column_loads_with_all(tmp_path: Path) -> None:
    path = tmp_path / "fer.csv"
    path.write_text("emotion,pixels\n3," + " ".join(map(str, face48(1).ravel())) + "\n")
    assert load_fer2013_csv(path, usage=None).labels.tolist() == [3]


@pytest.mark.parametrize(
    "pixels, message",
    [
        (" ".join(["7"] * 2303), "data row 1 has 2303 pixel values, expected 2304"),
        (" ".join(["7"] * 2305), "data row 1 has 2305 pixel values"),
        (" ".join(["7"] * 2303 + ["x"]), "data row 1 has a pixel value that is not"),
        (" ".join(["7"] * 2303 + ["300"]), "data row 1 has pixel values outside 0..255"),
    ],
)
def test_fer_csv_bad_pixels(tmp_path: Path, pixels: str, message: str) -> None:
    rows = [(0, face48(0), "Training"), (1, pixels, "Training"), (2, face48(2), "Training")]
    path = write_fer_csv(tmp_path / "fer2013.csv", rows)
    with pytest.raises(DatasetError, match=message):
        load_fer2013_csv(path)


@pytest.mark.parametrize(
    "emotion, message",
    [
        (7, "emotion 7, outside 0..6"),
        (-1, "emotion -1, outside 0..6"),
        ("happy", "emotion 'happy', expected an integer"),
    ],
)
def test_fer_csv_bad_labels(tmp_path: Path, emotion, message: str) -> None:
    path = write_fer_csv(
        tmp_path / "fer2013.csv", [(0, face48(0), "Training"), (emotion, face48(1), "Training")]
    )
    with pytest.raises(DatasetError, match=message):
        load_fer2013_csv(path)


def test_fer_csv_missing_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        load_fer2013_csv(tmp_path / "fer2013.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DatasetError, match="empty"):
        load_fer2013_csv(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("emotion,pixels,Usage\n")
    with pytest.raises(DatasetError, match="no data rows"):
        load_fer2013_csv(tmp_path / "header.csv")


# ----------------------------------------------------------------------------- FER+ votes


def test_load_ferplus_votes_keeps_blank_rows_and_orders_columns(tmp_path: Path) -> None:
    shuffled = tuple(reversed(FERPLUS_COLUMNS))
    path = write_ferplus_csv(
        tmp_path / "fer2013new.csv",
        ["Training"] * 6,
        ["fer0000000.png", "fer0000001.png", "", "fer0000003.png", "fer0000004.png", "fer0000005.png"],
        FERPLUS_VOTES,
        columns=shuffled,
    )
    votes, cols = load_ferplus_votes(path)
    assert cols == list(FERPLUS_COLUMNS)
    assert votes.dtype == np.uint8 and votes.shape == (6, 10)
    np.testing.assert_array_equal(votes, FERPLUS_VOTES)
    assert votes[2, cols.index("NF")] == 10


def test_load_ferplus_votes_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("Usage,Image name,neutral,happiness\nTraining,a.png,1,2\n")
    with pytest.raises(DatasetError, match="lacks column.*surprise"):
        load_ferplus_votes(bad)
    path = write_ferplus_csv(tmp_path / "f.csv", ["Training"], ["a.png"], FERPLUS_VOTES[:1])
    path.write_text(path.read_text().replace(",4,", ",four,", 1))
    with pytest.raises(DatasetError, match="non-integer vote"):
        load_ferplus_votes(path)
    with pytest.raises(DatasetError, match="not found"):
        load_ferplus_votes(tmp_path / "missing.csv")


def test_ferplus_to_fer_soft_rejects_unknown_columns() -> None:
    with pytest.raises(DatasetError, match="do not hold"):
        ferplus_to_fer_soft(FERPLUS_VOTES, ["a"] * 10)


# ----------------------------------------------------------------------------- image folders


def test_image_folder_gray_alphabetical(tmp_path: Path) -> None:
    root = tmp_path / "faces"
    write_image(root / "dog" / "b.png", face48(1)[:20, :20])
    write_image(root / "dog" / "a.jpg", face48(2)[:20, :20])
    write_image(root / "cat" / "c.bmp", face48(3)[:20, :20])
    (root / "cat" / "notes.txt").write_text("not an image")
    ds = load_image_folder(root)
    assert ds.label_names == ["cat", "dog"] and ds.order == "gray"
    assert ds.meta["path"].tolist() == ["cat/c.bmp", "dog/a.jpg", "dog/b.png"]
    assert ds.meta["path"].dtype.kind == "U"
    assert ds.labels.tolist() == [0, 1, 1]
    assert isinstance(ds.images, np.ndarray) and ds.images.shape == (3, 20, 20)
    np.testing.assert_array_equal(ds.images[2], face48(1)[:20, :20])  # png is lossless


def test_image_folder_mixed_channels_become_rgb_not_bgr(tmp_path: Path) -> None:
    root = tmp_path / "faces"
    write_image(root / "a" / "red.png", solid(RED_RGB))
    write_image(root / "b" / "gray.png", np.full((16, 16), 90, np.uint8))
    ds = load_image_folder(root)
    assert ds.order == "rgb" and ds.images.shape == (2, 16, 16, 3)
    assert ds.images[0, 0, 0].tolist() == [255, 0, 0]
    assert ds.images[1, 0, 0].tolist() == [90, 90, 90]


def test_image_folder_sizes_differ_gives_list(tmp_path: Path) -> None:
    root = tmp_path / "faces"
    write_image(root / "a" / "1.png", solid(RED_RGB, 16))
    write_image(root / "a" / "2.png", solid(RED_RGB, (20, 12)))
    ds = load_image_folder(root)
    assert isinstance(ds.images, list) and [im.shape for im in ds.images] == [(16, 16, 3), (20, 12, 3)]
    assert len(ds.subset(np.array([False, True]))) == 1
    assert ds.subset(np.array([False, True])).images[0].shape == (20, 12, 3)


def test_image_folder_forced_order(tmp_path: Path) -> None:
    root = tmp_path / "faces"
    write_image(root / "a" / "red.png", solid(RED_RGB))
    assert load_image_folder(root, order="gray").images.shape == (1, 16, 16)
    with pytest.raises(DatasetError, match="order must be one of"):
        load_image_folder(root, order="bgr")


def test_image_folder_skips_unreadable_with_warning(tmp_path: Path) -> None:
    root = tmp_path / "faces"
    write_image(root / "a" / "ok.png", face48(0))
    (root / "a" / "broken.jpg").write_bytes(b"not a jpeg")
    (root / "a" / "empty.png").write_bytes(b"")
    with pytest.warns(UserWarning, match="skipped 2 unreadable"):
        ds = load_image_folder(root)
    assert ds.meta["path"].tolist() == ["a/ok.png"]


def test_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not a folder"):
        load_image_folder(tmp_path / "missing")
    (tmp_path / "flat").mkdir()
    write_image(tmp_path / "flat" / "x.png", face48(0))
    with pytest.raises(DatasetError, match="no class sub-folders"):
        load_image_folder(tmp_path / "flat")
    (tmp_path / "bad" / "a").mkdir(parents=True)
    (tmp_path / "bad" / "a" / "x.jpg").write_bytes(b"junk")
    with pytest.raises(DatasetError, match="none of the 1 image files could be decoded"):
        load_image_folder(tmp_path / "bad")
    (tmp_path / "none" / "a").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no .* files"):
        load_image_folder(tmp_path / "none")


def test_image_folder_label_names_map_by_name(tmp_path: Path) -> None:
    root = tmp_path / "g"
    write_image(root / "Man" / "1.png", face48(0))
    write_image(root / "woman" / "2.png", face48(1))
    ds = load_image_folder(root, label_names=list(GENDER_LABELS))
    assert ds.label_names == ["woman", "man"]
    assert dict(zip(ds.meta["path"].tolist(), ds.labels.tolist())) == {"Man/1.png": 1, "woman/2.png": 0}
    write_image(root / "child" / "3.png", face48(2))
    with pytest.raises(DatasetError, match="child are not among the labels"):
        load_image_folder(root, label_names=list(GENDER_LABELS))


KAGGLE_FOLDERS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


@pytest.fixture
def fer_folder(tmp_path: Path) -> Path:
    root = tmp_path / "fer2013_images"
    for k, emotion in enumerate(KAGGLE_FOLDERS):
        write_image(root / "train" / emotion / f"Training_{k}.jpg", face48(k))
    write_image(root / "test" / "neutral" / "PublicTest_1.jpg", face48(10))
    write_image(root / "test" / "happy" / "PrivateTest_2.jpg", face48(11))
    return root


def test_fer_folder_uses_fer2013_ids_not_alphabetical(fer_folder: Path) -> None:
    ds = load_fer_folder(fer_folder)
    assert ds.label_names == list(EMOTION_LABELS) and ds.order == "gray"
    assert ds.images.shape == (7, 48, 48) and ds.images.dtype == np.uint8
    by_folder = {p.split("/")[0]: int(y) for p, y in zip(ds.meta["path"], ds.labels)}
    assert by_folder == {
        "angry": 0,
        "disgust": 1,
        "fear": 2,
        "happy": 3,
        "sad": 4,
        "surprise": 5,
        "neutral": 6,
    }
    test = load_fer_folder(fer_folder, split="test")
    assert sorted(test.labels.tolist()) == [3, 6]
    assert test.name == "fer2013_images_test"


def test_fer_folder_errors(fer_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no 'validation' folder .*test, train"):
        load_fer_folder(fer_folder, split="validation")
    write_image(fer_folder / "train" / "contempt" / "x.jpg", face48(0))
    with pytest.raises(DatasetError, match="contempt are not among the labels"):
        load_fer_folder(fer_folder)
    with pytest.raises(DatasetError, match="not a folder"):
        load_fer_folder(tmp_path / "nowhere")


# ----------------------------------------------------------------------------- UTKFace

UTK_FILES = {
    "26_0_2_20170104023102422.jpg.chip.jpg": (26, "man", 2),
    "31_1_0_20170104165735263.jpg.chip.jpg": (31, "woman", 0),
    "1_1_4_20161221193445391.jpg": (1, "woman", 4),  # in-the-wild naming, no .chip
    "24_0_1_20170116220224657 .jpg.chip.jpg": (24, "man", 1),  # real file name with a space
}
UTK_MALFORMED = "39_1_20170116174525125.jpg.chip.jpg"  # real file name lacking the race field


@pytest.fixture
def utk_folder(tmp_path: Path) -> Path:
    root = tmp_path / "UTKFace"
    for k, name in enumerate(UTK_FILES):
        write_image(root / name, solid(RED_RGB, 20 + 4 * k))
    write_image(root / UTK_MALFORMED, solid(RED_RGB, 20))
    return root


def test_utk_gender_mapping_is_flipped() -> None:
    assert UTK_GENDER_TO_LABEL == {0: MAN, 1: WOMAN}
    assert all(UTK_GENDER_TO_LABEL[g] == 1 - g for g in (0, 1))
    assert GENDER_LABELS[UTK_GENDER_TO_LABEL[0]] == "man"
    assert parse_utk_name("55_0_0_20170116232725357jpg.chip.jpg") == (55, MAN, 0)
    assert parse_utk_name(UTK_MALFORMED) is None
    assert parse_utk_name("26_2_0_20170104023102422.jpg") is None


def test_utkface_labels_meta_and_rgb(utk_folder: Path) -> None:
    assert looks_like_utkface(utk_folder)
    with pytest.warns(UserWarning, match="skipped 1 file"):
        ds = load_utkface(utk_folder, size=32)
    assert ds.label_names == list(GENDER_LABELS) and ds.order == "rgb"
    assert ds.images.shape == (4, 32, 32, 3) and ds.images.dtype == np.uint8
    assert ds.images[:, 5, 5, 0].min() > 200 and ds.images[:, 5, 5, 2].max() < 50  # red, not blue
    got = {
        p: (int(a), ds.label_names[y], int(r))
        for p, a, y, r in zip(ds.meta["path"], ds.meta["age"], ds.labels, ds.meta["race"])
    }
    assert got == UTK_FILES
    assert ds.meta["age"].dtype == np.int16 and ds.meta["race"].dtype == np.int8


def test_utkface_sizes_differ_gives_list(utk_folder: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = load_utkface(utk_folder)
    assert isinstance(ds.images, list)
    assert sorted(im.shape[0] for im in ds.images) == [20, 24, 28, 32]


def test_utkface_detection_and_errors(tmp_path: Path) -> None:
    other = tmp_path / "other"
    write_image(other / "img_001.jpg", solid(RED_RGB))
    write_image(other / "26_0_2_20170104023102422.jpg.chip.jpg", solid(RED_RGB))
    write_image(other / "img_002.jpg", solid(RED_RGB))
    assert not looks_like_utkface(other)
    assert not looks_like_utkface(tmp_path / "missing")
    with pytest.raises(DatasetError, match="not a folder"):
        load_utkface(tmp_path / "missing")
    bad = tmp_path / "bad"
    write_image(bad / "photo.jpg", solid(RED_RGB))
    with pytest.raises(DatasetError, match="no readable UTKFace images.*1 malformed"):
        load_utkface(bad)


# ----------------------------------------------------------------------------- IMDB-WIKI


def cell(strings: list[str]) -> np.ndarray:
    """A MATLAB 1xN cell of strings as loadmat returns it (and savemat writes it)."""
    out = np.empty((1, len(strings)), dtype=object)
    for i, s in enumerate(strings):
        out[0, i] = np.array([s])
    return out


def row(values) -> np.ndarray:
    return np.array([values], dtype=np.float64)


# (path, dob, photo_taken, gender, face_score, second_face_score, expected: kept?)
IMDB_ENTRIES = [
    ("01/nm0000001_rm1_1980-5-10_2010.jpg", datenum(1980, 5, 10), 2010, 1.0, 3.2, np.nan),  # man, 30
    ("02/nm0000002_rm2_1990-1-2_2012.jpg", datenum(1990, 1, 2), 2012, 0.0, 1.5, np.nan),  # woman, 22
    ("03/nm0000003_rm3_1970-1-1_2000.jpg", datenum(1970, 1, 1), 2000, 1.0, -np.inf, np.nan),  # no face
    ("04/nm0000004_rm4_1970-1-1_2000.jpg", datenum(1970, 1, 1), 2000, 0.0, 4.0, 2.5),  # second face
    ("05/nm0000005_rm5_1970-1-1_2000.jpg", datenum(1970, 1, 1), 2000, np.nan, 4.0, np.nan),  # gender?
    ("06/nm0000006_rm6_1970-1-1_2000.jpg", datenum(1970, 1, 1), 2000, 1.0, 0.5, np.nan),  # weak face
    ("07/nm0000007_rm7_1970-1-1_2000.jpg", datenum(1970, 1, 1), 2000, 0.0, 2.0, np.nan),  # file missing
    ("08/nm0000008_rm8_2015-1-1_1900.jpg", datenum(2015, 1, 1), 1900, 0.0, 2.0, np.nan),  # age < 0
]


def write_imdb(root: Path, key: str = "imdb", missing: tuple[int, ...] = (6,)) -> Path:
    for k, entry in enumerate(IMDB_ENTRIES):
        if k not in missing:  # crops of different sizes, with a wide margin, pure red
            write_image(root / entry[0], solid(RED_RGB, (40 + 3 * k, 50 + k)))
    paths, dob, taken, gender, score, second = zip(*IMDB_ENTRIES)
    struct = {
        "dob": row(dob),
        "photo_taken": row(taken),
        "full_path": cell(list(paths)),
        "gender": row(gender),
        "name": cell([f"Person {k}" for k in range(len(paths))]),
        "face_location": np.array([[np.array([[10.0, 12.0, 90.0, 95.0]]) for _ in paths]], dtype=object),
        "face_score": row(score),
        "second_face_score": row(second),
    }
    if key == "imdb":
        struct["celeb_names"] = cell([f"Person {k}" for k in range(len(paths))])
        struct["celeb_id"] = row(np.arange(1, len(paths) + 1))
    root.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(root / f"{key}.mat", {key: struct})
    return root


def test_imdb_filters_labels_ages(tmp_path: Path) -> None:
    root = write_imdb(tmp_path / "imdb_crop")
    with pytest.warns(UserWarning, match="skipped 1 missing"):
        ds = load_imdb_wiki(root, size=32)
    assert ds.name == "imdb" and ds.order == "rgb" and ds.label_names == list(GENDER_LABELS)
    # dropped: -inf face score (3), second face (4), unknown gender (5), weak face (6); 7 missing
    assert [p.split("/")[0] for p in ds.meta["path"]] == ["01", "02", "08"]
    assert [ds.label_names[y] for y in ds.labels] == ["man", "woman", "woman"]
    assert ds.meta["age"].tolist() == [30, 22, -1] and ds.meta["age"].dtype == np.int16
    assert ds.images.shape == (3, 32, 32, 3) and ds.images.dtype == np.uint8
    assert ds.images[:, 3, 3, 0].min() > 240 and ds.images[:, 3, 3, 1:].max() < 15  # red: RGB


def test_imdb_min_face_score_and_no_resize(tmp_path: Path) -> None:
    root = write_imdb(tmp_path / "imdb_crop", missing=())
    ds = load_imdb_wiki(root, min_face_score=0.0, size=None)
    assert [p.split("/")[0] for p in ds.meta["path"]] == ["01", "02", "06", "07", "08"]
    assert isinstance(ds.images, list) and ds.images[0].shape == (40, 50, 3)


def test_imdb_gender_mapping_and_datenum() -> None:
    assert IMDB_GENDER_TO_LABEL == {0: WOMAN, 1: MAN}
    assert datenum_year(datenum(1980, 5, 10)) == 1980
    assert datenum_year(datenum(1999, 12, 31) + 0.75) == 1999
    assert datenum_year(float("nan")) is None and datenum_year(0.0) is None


def test_wiki_mat_and_explicit_mat(tmp_path: Path) -> None:
    root = write_imdb(tmp_path / "wiki_crop", key="wiki")
    with pytest.warns(UserWarning):
        ds = load_imdb_wiki(root)
    assert ds.name == "wiki" and ds.images.shape == (3, 96, 96, 3)
    moved = tmp_path / "meta.mat"
    (root / "wiki.mat").rename(moved)
    with pytest.raises(DatasetError, match="no .mat file"):
        load_imdb_wiki(root)
    with pytest.warns(UserWarning):
        assert len(load_imdb_wiki(root, mat=moved)) == 3


def test_imdb_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not a folder"):
        load_imdb_wiki(tmp_path / "missing")
    root = tmp_path / "crop"
    root.mkdir()
    scipy.io.savemat(root / "imdb.mat", {"other": row([1.0])})
    with pytest.raises(DatasetError, match="no 'imdb' or 'wiki' struct"):
        load_imdb_wiki(root)
    scipy.io.savemat(root / "imdb.mat", {"imdb": {"dob": row([1.0]), "full_path": cell(["a.jpg"])}})
    with pytest.raises(DatasetError, match="lacks field.*gender"):
        load_imdb_wiki(root)
    (root / "imdb.mat").write_bytes(b"MATLAB junk")
    with pytest.raises(DatasetError, match="not a readable .mat"):
        load_imdb_wiki(root)
    empty = write_imdb(tmp_path / "empty", missing=tuple(range(len(IMDB_ENTRIES))))
    with pytest.raises(DatasetError, match="could be read"):
        load_imdb_wiki(empty)
    with pytest.raises(DatasetError, match="none of its 8 entries passes"):
        load_imdb_wiki(write_imdb(tmp_path / "strict"), min_face_score=99.0)


# ----------------------------------------------------------------------------- shared .npz


def write_raw_npz(path: Path, n: int, split: str = "train", seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    arrays = {
        f"x_{split}": rng.integers(0, 256, (n, 48, 48), dtype=np.uint8),
        f"y_{split}": rng.integers(0, 7, n).astype(np.uint8),
        f"row_{split}": np.arange(n, dtype=np.int32) + 10 * seed,
        f"ferplus_{split}": FERPLUS_VOTES[np.arange(n) % len(FERPLUS_VOTES)],
        "ferplus_columns": np.array(FERPLUS_COLUMNS),
        "class_names": np.array(EMOTION_LABELS),
    }
    np.savez_compressed(path, **arrays)
    return arrays


def encode_rgb_jpegs(images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    bufs = [
        cv2.imencode(".jpg", cv2.cvtColor(im, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])[1].ravel()
        for im in images
    ]
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in bufs])]).astype(np.int64)
    return np.concatenate(bufs).astype(np.uint8), offsets


BLOB_COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]


def write_blob_npz(path: Path, colours=BLOB_COLOURS, y=(0, 1, 1), **extra) -> Path:
    blob, off = encode_rgb_jpegs([solid(c, 24) for c in colours])
    arrays = {
        "jpeg_blob": blob,
        "jpeg_offsets": off,
        "y": np.array(y, np.uint8),
        "age": np.array([25, 40, 3][: len(y)], np.int16),
        "race": np.array([0, 2, 4][: len(y)], np.int8),
        "filename": np.array([f"{k}_0_0_1.jpg.chip.jpg" for k in range(len(y))]),
        "class_names": np.array(GENDER_LABELS),
        "race_names": np.array(["White", "Black", "Asian", "Indian", "Others"]),
    }
    arrays.update(extra)
    np.savez_compressed(path, **arrays)
    return path


def test_npz_raw_layout_with_ferplus(tmp_path: Path) -> None:
    arrays = write_raw_npz(tmp_path / "fer2013_publictest.npz", 6, split="publictest")
    ds = load_npz(tmp_path / "fer2013_publictest.npz")
    assert ds.name == "fer2013_publictest" and ds.order == "gray"
    assert ds.label_names == list(EMOTION_LABELS)
    np.testing.assert_array_equal(ds.images, arrays["x_publictest"])
    np.testing.assert_array_equal(ds.labels, arrays["y_publictest"])
    np.testing.assert_array_equal(ds.meta["row"], arrays["row_publictest"])
    assert majority(ds.soft).tolist() == [6, 3, -1, 5, 4, -1]


def test_npz_plain_x_y_layout_with_an_extra_class_is_narrowed_to_the_task(tmp_path: Path) -> None:
    """CK+48's layout: plain x / y, FER2013's seven names plus contempt (no neutral faces).
    Loaded for the emotion task, the contempt faces go and the others keep their classes."""
    rng = np.random.default_rng(0)
    names = [*EMOTION_LABELS, "contempt"]
    y = np.array([0, 7, 3, 5, 7, 1], np.uint8)
    x = rng.integers(0, 256, (6, 48, 48), dtype=np.uint8)
    subject = np.array(["S010", "S011", "S010", "S012", "S013", "S011"])
    np.savez_compressed(tmp_path / "ckplus48.npz", x=x, y=y, subject=subject, class_names=np.array(names))
    raw = load_dataset(tmp_path / "ckplus48.npz")
    assert raw.label_names == names and len(raw) == 6
    ds = load_dataset(tmp_path / "ckplus48.npz", task="emotion")
    assert ds.label_names == list(EMOTION_LABELS) and ds.order == "gray"
    assert [ds.label_names[v] for v in ds.labels] == ["angry", "happy", "surprise", "disgust"]
    np.testing.assert_array_equal(ds.images, x[[0, 2, 3, 5]])
    assert ds.meta["subject"].tolist() == ["S010", "S010", "S012", "S011"]
    with pytest.raises(DatasetError, match="cannot be narrowed"):
        raw.only_classes(["angry", "calm"])


def test_npz_raw_multipart_concatenates(tmp_path: Path) -> None:
    a = write_raw_npz(tmp_path / "fer2013_train_1of2.npz", 4, seed=0)
    b = write_raw_npz(tmp_path / "fer2013_train_2of2.npz", 3, seed=1)
    for spec in ("fer2013_train_2of2.npz", "fer2013_train_1of2.npz", "fer2013_train"):
        ds = load_npz(tmp_path / spec)
        assert ds.name == "fer2013_train" and len(ds) == 7
        np.testing.assert_array_equal(ds.images, np.concatenate([a["x_train"], b["x_train"]]))
        assert ds.meta["row"].tolist() == [0, 1, 2, 3, 10, 11, 12]
        assert ds.soft.shape == (7, 7)
    assert expand_parts(tmp_path / "fer2013_train") == [
        tmp_path / "fer2013_train_1of2.npz",
        tmp_path / "fer2013_train_2of2.npz",
    ]


def test_npz_blob_layout_decodes_rgb_not_bgr(tmp_path: Path) -> None:
    ds = load_npz(write_blob_npz(tmp_path / "gender_val.npz"))
    assert ds.order == "rgb" and ds.label_names == list(GENDER_LABELS)
    assert ds.images.shape == (3, 24, 24, 3) and ds.images.dtype == np.uint8
    centre = ds.images[:, 12, 12].astype(int)
    assert centre.argmax(axis=1).tolist() == [0, 1, 2]  # red, green, blue in that order
    assert centre[0, 0] > 240 and centre[0, 2] < 15
    assert ds.labels.tolist() == [0, 1, 1]
    assert ds.meta["age"].tolist() == [25, 40, 3] and ds.meta["race"].tolist() == [0, 2, 4]


def test_npz_blob_multipart(tmp_path: Path) -> None:
    write_blob_npz(tmp_path / "gender_train_1of2.npz")
    write_blob_npz(tmp_path / "gender_train_2of2.npz", colours=BLOB_COLOURS[:2], y=(1, 0))
    ds = load_npz(tmp_path / "gender_train_1of2.npz")
    assert ds.name == "gender_train" and len(ds) == 5
    assert ds.labels.tolist() == [0, 1, 1, 1, 0]
    assert ds.meta["age"].tolist() == [25, 40, 3, 25, 40]
    assert ds.images[3:, 12, 12].argmax(axis=1).tolist() == [0, 1]
    write_blob_npz(
        tmp_path / "gender_train_2of2.npz",
        colours=[(9, 9, 9)],
        y=(1,),
        jpeg_blob=encode_rgb_jpegs([solid((9, 9, 9), 30)])[0],
        jpeg_offsets=encode_rgb_jpegs([solid((9, 9, 9), 30)])[1],
    )
    with pytest.raises(DatasetError, match="disagree on image size"):
        load_npz(tmp_path / "gender_train_1of2.npz")


@pytest.mark.parametrize(
    "offsets, message",
    [
        ([0, 10, 5, -1], "jpeg_offsets do not match"),  # not increasing
        ([0, 10, 20], "jpeg_offsets do not match"),  # one image short of y, and not ending at the blob end
        ([1, 10, 20, -1], "jpeg_offsets do not match"),  # not starting at 0
        ([0, 0, 20, -1], "jpeg_offsets do not match"),  # an empty image
        ([0, 10, 20, 10**9], "jpeg_offsets do not match"),  # past the blob
        ([], "holds no images"),
        ([0], "holds no images"),
    ],
)
def test_npz_corrupt_offsets(tmp_path: Path, offsets: list[int], message: str) -> None:
    blob, _ = encode_rgb_jpegs([solid(c, 24) for c in BLOB_COLOURS])
    off = np.array([len(blob) if o == -1 else o for o in offsets], np.int64)
    path = write_blob_npz(tmp_path / "g.npz", jpeg_offsets=off)
    with pytest.raises(DatasetError, match=message):
        load_npz(path)


def test_npz_corrupt_jpeg_and_other_errors(tmp_path: Path) -> None:
    blob, off = encode_rgb_jpegs([solid(c, 24) for c in BLOB_COLOURS])
    blob[off[1] : off[2]] = 0
    path = write_blob_npz(tmp_path / "g.npz", jpeg_blob=blob)
    with pytest.raises(DatasetError, match="could not be decoded"):
        load_npz(path)
    with pytest.raises(DatasetError, match="not found"):
        load_npz(tmp_path / "nothing.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(DatasetError, match="not a shared-layout file"):
        load_npz(tmp_path / "other.npz")
    write_raw_npz(tmp_path / "parts_1of2.npz", 2)
    with pytest.raises(DatasetError, match="parts_2of2.npz not found"):
        load_npz(tmp_path / "parts_1of2.npz")
    (tmp_path / "trunc.npz").write_bytes((tmp_path / "g.npz").read_bytes()[:200])
    with pytest.raises(DatasetError, match="trunc.npz is not a readable .npz"):
        load_npz(tmp_path / "trunc.npz")
    np.savez(
        tmp_path / "pickled.npz",
        jpeg_blob=np.array([b"x", None], dtype=object),
        jpeg_offsets=np.array([0, 1]),
        y=np.array([0]),
    )
    with pytest.raises(DatasetError, match="pickled.npz is damaged"):
        load_npz(tmp_path / "pickled.npz")
    np.save(tmp_path / "single.npy", np.zeros(3))
    (tmp_path / "single.npy").rename(tmp_path / "single.npz")
    with pytest.raises(DatasetError, match="single.npz is not a readable .npz file"):
        load_npz(tmp_path / "single.npz")


# ----------------------------------------------------------------------------- load_dataset


def test_load_dataset_csv_and_split(fer_csv: Path) -> None:
    assert detect_format(fer_csv) == "fer_csv"
    assert load_dataset(fer_csv).meta["row"].tolist() == [0, 2, 4]
    assert load_dataset(f"{fer_csv}::PublicTest").meta["row"].tolist() == [1, 5]
    assert len(load_dataset(f"{fer_csv}::all")) == 6
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(fer_csv.with_name("nope.csv"))


def test_load_dataset_fer_folder(fer_folder: Path) -> None:
    assert detect_format(fer_folder) == "fer_folder"
    assert len(load_dataset(fer_folder)) == 7
    test = load_dataset(f"{fer_folder}::test")
    assert sorted(test.labels.tolist()) == [3, 6] and test.label_names == list(EMOTION_LABELS)


def test_load_dataset_utkface(utk_folder: Path) -> None:
    assert detect_format(utk_folder) == "utkface"
    with pytest.warns(UserWarning):
        ds = load_dataset(utk_folder, task="gender")
    assert ds.label_names == list(GENDER_LABELS) and len(ds) == 4


def test_load_dataset_imdb_wiki(tmp_path: Path) -> None:
    root = write_imdb(tmp_path / "imdb_crop")
    assert detect_format(root) == "imdb_wiki"
    with pytest.warns(UserWarning):
        ds = load_dataset(root, task="gender")
    assert ds.images.shape == (3, 96, 96, 3) and ds.labels.tolist() == [MAN, WOMAN, WOMAN]


def test_load_dataset_generic_folder_and_split(tmp_path: Path) -> None:
    root = tmp_path / "faces"
    write_image(root / "train" / "a" / "1.png", face48(0))
    write_image(root / "train" / "b" / "2.png", face48(1))
    write_image(root / "val" / "b" / "3.png", face48(2))
    assert detect_format(root / "train") == "folder"
    assert load_dataset(root / "train").label_names == ["a", "b"]
    assert load_dataset(f"{root}::val").meta["path"].tolist() == ["b/3.png"]


def test_load_dataset_npz_parts_and_errors(tmp_path: Path) -> None:
    write_blob_npz(tmp_path / "gender_train_1of2.npz")
    write_blob_npz(tmp_path / "gender_train_2of2.npz")
    assert detect_format(tmp_path / "gender_train") == "npz"
    assert len(load_dataset(tmp_path / "gender_train", task="gender")) == 6
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(tmp_path / "nothing_here")
    with pytest.raises(DatasetError, match="unknown format"):
        load_dataset(tmp_path / "gender_train_1of2.npz", fmt="parquet")
