"""The chart set's files for detectron2: the mirror maps, the evaluation tables, the distance table's indexing,
and the export_chart_assets command."""

import pickle

import numpy as np
import pytest
from scipy.io import loadmat

from pipeline import parts
from pipeline.charts import interchange
from pipeline.charts.lookup import ChartLookup
from pipeline.evaluation.mesh import EvalMesh
from pipeline.geodesic import Geodesics


@pytest.fixture(scope="module")
def folder(assets, eval_mesh):  # eval_mesh: the files are built once, by whichever comes first
    return interchange.ensure(assets, "anny")


@pytest.fixture(scope="module")
def maps(folder):
    return interchange.load_symmetry(folder)


@pytest.fixture(scope="module")
def lookup(assets):
    return ChartLookup(assets.vertices, assets.faces, assets.face_chart, assets.corner_uv)


def used_texels(lookup, chart):
    centre = np.minimum((np.arange(256) + 0.5) / 255, 1.0)
    gv, gu = np.meshgrid(centre, centre, indexing="ij")
    *_, inside = lookup.to_surface_inside(np.full(gu.size, chart), gu.ravel(), gv.ravel())
    return gu.ravel()[inside], gv.ravel()[inside]


def test_files_are_in_detectron2s_formats(folder, assets):
    sym = loadmat(folder / interchange.SYMMETRY_FILE)
    for key in ("U_transforms", "V_transforms"):
        assert sym[key].shape == (1, 24) and all(sym[key][0, i].shape == (256, 256) for i in range(24))
    sub = loadmat(folder / "anny_subdiv.mat")
    index = loadmat(folder / "anny_SUBDIV_TRANSFORM.mat")["index"]
    n_chart_vertices = sub["U_subdiv"].shape[1]
    assert sub["U_subdiv"].shape == sub["V_subdiv"].shape == sub["Part_ID_subdiv"].shape == (1, n_chart_vertices)
    assert set(np.unique(sub["Part_ID_subdiv"])) == set(parts.CHARTS)
    assert index.shape == (1, n_chart_vertices) and index.min() == 1 and index.max() == len(assets.vertices)
    with open(folder / interchange.PDIST_FILE, "rb") as f:
        table = pickle.load(f)["Pdist_matrix"]
    n = len(assets.vertices)
    assert table.shape == (n * (n - 1) // 2, 1)
    assert (folder / interchange.PDIST_FILE).stat().st_size < 1e9
    readme = (folder / "README.md").read_text()
    assert "densepose_transform_src" in readme and "27554" in readme and "for any n" in readme
    # the reference indexes arrays with the part ids and rows: integers, as in DensePose's own files
    assert sub["Part_ID_subdiv"].dtype == np.uint8 and index.dtype == np.int32


def test_flipping_twice_is_the_identity_for_every_chart(maps, lookup):
    u_maps, v_maps = maps
    worst = {}
    for chart in parts.CHARTS:
        u, v = used_texels(lookup, chart)
        c1, u1, v1 = interchange.mirror_iuv(u_maps, v_maps, np.full(len(u), chart), u, v)
        assert (c1 == parts.CHART_FLIP[chart]).all()
        c2, u2, v2 = interchange.mirror_iuv(u_maps, v_maps, c1, u1, v1)
        assert (c2 == chart).all()
        off = np.maximum(np.abs(u2 - u), np.abs(v2 - v)) * 255  # in texels
        worst[chart] = float(np.percentile(off, 99))
    assert max(worst.values()) <= 1.0, worst


def test_the_mirror_of_the_left_hand_is_the_right_hand(maps, lookup):
    u_maps, v_maps = maps
    left = parts.CHART_NAMES.index("Left Hand") + 1
    u, v = used_texels(lookup, left)
    chart, u1, v1 = interchange.mirror_iuv(u_maps, v_maps, np.full(len(u), left), u, v)
    assert (chart == parts.CHART_NAMES.index("Right Hand") + 1).all()
    _, _, original = lookup.to_surface(np.full(len(u), left), u, v)
    _, _, mirrored = lookup.to_surface(chart, u1, v1)
    assert np.median(np.linalg.norm(mirrored - original * [-1, 1, 1], axis=1)) < 0.005
    assert (original[:, 0] > 0).all() and (mirrored[:, 0] < 0).all(), "left is +x on the template"


def test_mirroring_keeps_geodesic_distances(maps, lookup, assets):
    u_maps, v_maps = maps
    geo = Geodesics(assets.vertices, assets.faces)
    rng = np.random.default_rng(0)
    ratios = []
    for chart in (2, 4, 9, 17, 23):
        u, v = used_texels(lookup, chart)
        a, b = rng.choice(len(u), 2, replace=False)
        face, bary, _ = lookup.to_surface([chart, chart], u[[a, b]], v[[a, b]])
        original = geo.distance_between(face[0], bary[0], face[1:], bary[1:])[0]
        c1, u1, v1 = interchange.mirror_iuv(u_maps, v_maps, [chart, chart], u[[a, b]], v[[a, b]])
        mface, mbary, _ = lookup.to_surface(c1, u1, v1)
        mirrored = geo.distance_between(mface[0], mbary[0], mface[1:], mbary[1:])[0]
        ratios.append(mirrored / original)
    assert np.allclose(ratios, 1, atol=0.02), ratios


def test_the_table_read_through_the_k_rule_agrees_with_direct_geodesics(assets, eval_mesh):
    import potpourri3d as pp3d

    heat = pp3d.MeshHeatMethodDistanceSolver(assets.vertices.astype(float), assets.faces)
    exact = pp3d.EdgeFlipGeodesicSolver(assets.vertices.astype(float), assets.faces)
    rng = np.random.default_rng(1)
    for a in rng.integers(0, eval_mesh.n, 5):
        b = rng.integers(0, eval_mesh.n, 20)
        b = b[b != a]
        direct = (heat.compute_distance(int(a))[b] + np.array([heat.compute_distance(int(x))[a] for x in b])) / 2
        table = eval_mesh.distance(np.full(len(b), a), b)
        assert np.allclose(table, direct, rtol=0.01), "the k = b(b-1)/2 + a rule reads the right pair"
        path = exact.find_geodesic_path(int(a), int(b[0]))
        shortest = np.linalg.norm(np.diff(path, axis=0), axis=1).sum()
        assert table[0] == pytest.approx(shortest, rel=0.12), "the heat method is within a few % of exact"


def test_the_diagonal_is_never_read(eval_mesh):
    class Recording(np.ndarray):
        read: list = []

        def __getitem__(self, key):
            Recording.read.append(np.asarray(key).copy())
            return super().__getitem__(key)

    table = np.asarray(eval_mesh.pdist[:10]).view(Recording)  # pairs among rows 0..4
    mesh = EvalMesh(eval_mesh.chart[:3], eval_mesh.uv[:3], np.arange(3), table, 5)
    assert (mesh.distance([0, 3, 4], [0, 3, 4]) == 0).all()
    assert all(len(k) == 0 for k in Recording.read), "no entry is read for a vertex and itself"
    assert mesh.distance([1], [3])[0] == pytest.approx(float(table[3 * 2 // 2 + 1]))


@pytest.mark.django_db
def test_export_chart_assets_command(folder, tmp_path, settings, capsys):
    from django.core.management import call_command

    from tests.stack import ASSET_CACHE

    settings.ASSET_CACHE_DIR = ASSET_CACHE
    call_command("export_chart_assets", body="anny", out=str(tmp_path / "out"))
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted(["README.md", "UV_symmetry_transforms.mat", "anny_subdiv.mat",
                            "anny_SUBDIV_TRANSFORM.mat", "Pdist_matrix.pkl", "info.json"])  # fmt: skip
    assert "13348" in capsys.readouterr().out


@pytest.mark.django_db
def test_the_chart_assets_download_as_one_tar(folder, users, client_for, settings, tmp_path):
    import io
    import tarfile

    from tests.stack import ASSET_CACHE

    settings.ASSET_CACHE_DIR = ASSET_CACHE
    resp = client_for(users["annotator"]).get("/api/bodies/anny/chart-assets.tar")
    assert resp.status_code == 403 and "only admins" in resp.json()["detail"]
    resp = client_for(users["admin"]).get("/api/bodies/anny/chart-assets.tar")
    assert resp.status_code == 200 and resp["Content-Type"] == "application/x-tar"
    data = b"".join(resp.streaming_content)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        readme = tar.extractfile("anny-chart-assets/README.md").read()
    assert "anny-chart-assets/Pdist_matrix.pkl" in names and readme == (folder / "README.md").read_bytes()
    assert client_for(None).get("/api/bodies/anny/chart-assets.tar").status_code == 401


@pytest.mark.django_db
def test_missing_chart_files_are_built_by_a_job_never_in_the_request(folder, users, client_for, settings, tmp_path):
    """A body whose chart files are not built: the download starts the build job (once) and answers 409."""
    import shutil

    from annotator_web.core.models import Job
    from tests.stack import ASSET_CACHE

    built = next((ASSET_CACHE / "assets").glob("anny-*/assets.npz")).parent
    copy = tmp_path / "cache" / "assets" / built.name
    shutil.copytree(built, copy, ignore=shutil.ignore_patterns("chart_assets*", "nearest_vertex_bytes-*"))
    for extra in ASSET_CACHE.glob("anny*.npz"):  # the body model's compact file
        shutil.copy(extra, tmp_path / "cache")
    settings.ASSET_CACHE_DIR = tmp_path / "cache"
    boss = client_for(users["admin"])
    first = boss.get("/api/bodies/anny/chart-assets.tar")
    assert first.status_code == 409 and "being built by job" in first.json()["detail"]
    again = boss.get("/api/bodies/anny/chart-assets.tar")
    assert again.json()["job"] == first.json()["job"], "one build job, not one per request"
    assert Job.objects.get(pk=first.json()["job"]).kind == "build_assets"
    assert not (copy / "chart_assets").exists(), "nothing was built inside the request"


def test_detectron2s_hard_coded_n_does_not_change_which_entry_it_reads():
    """detectron2's getDistancesUV computes the condensed index from a hard-coded n = 27554 in two steps
    (written out below as it stands there); for any n and 0-based rows i > j it reads k = i(i-1)/2 + j, the rule
    of these tables, so files for another mesh need no change to detectron2."""
    rng = np.random.default_rng(7)
    for n in (27554, 13348, 1000, 3):
        for _ in range(10_000):
            a, b = (int(v) for v in rng.integers(0, n, 2))
            if a == b:
                continue
            i, j = max(a, b), min(a, b)
            ii, jj = n - i - 1, n - j - 1  # its first step (after putting the larger row first)
            k = (n * (n - 1) / 2) - (n - ii) * ((n - ii) - 1) / 2 + jj - ii - 1
            k = (n * n - n) / 2 - k - 1
            assert int(k) == i * (i - 1) // 2 + j
