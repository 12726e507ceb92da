"""The ``architecture-diagram`` directive (docs/_ext/diagrams.py) in a tiny Sphinx project.

Every kind renders to well-formed SVG whose printed shapes are the models' real shapes,
computed here independently by calling the models' parts; text fits its boxes at the
0.6 em estimate; bad input is a one-line error at the directive's line.
"""

from __future__ import annotations

import io
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs" / "_ext"))

SVG_NS = "{http://www.w3.org/2000/svg}"

#: The directive blocks of the eight architecture pages, as the report proposes them.
PAGES = {
    "mlp": """
.. architecture-diagram:: mlp
   :input: 1 28 28
   :kwargs: hidden_dims=(1024, 512), dropout=0.3

   input image |
   flatten | layers.0
   linear · BN · ReLU · dropout | layers.4
   linear · BN · ReLU · dropout | layers.8
   linear → logits | layers.9
""",
    "cnn": """
.. architecture-diagram:: cnn
   :input: 1 28 28

   input image |
   conv 3×3 · BN · ReLU · max-pool | features.3
   conv 3×3 · BN · ReLU · max-pool | features.7
   conv 3×3 · BN · ReLU · max-pool | features.11
   flatten · dropout | classifier.1
   linear → logits | classifier.2
""",
    "resnet": """
.. architecture-diagram:: resnet
   :kind: residual
   :input: 1 28 28
   :kwargs: blocks_per_stage=3, base_channels=8

   input image |
   stem: conv 3×3 · BN · ReLU | stem
   stage 1: 3 basic blocks | stages.0
   stage 2: 3 basic blocks, the first with stride 2 | stages.1
   stage 3: 3 basic blocks, the first with stride 2 | stages.2
   global average pool | pool
   linear → logits | fc

.. architecture-diagram:: resnet
   :kind: residual
   :kwargs: blocks_per_stage=3, base_channels=8
   :caption: The first two blocks of stage 2.

   block input | stages.1.0:input
   first block: conv 3×3 stride 2 · BN · ReLU · conv 3×3 · BN | stages.1.0
   second block | stages.1.1
""",
    "rnn": """
.. architecture-diagram:: lstm
   :kind: recurrent
   :input: 1 28 28

   input image |
   image rows as a sequence | recurrent:input
   LSTM cell | recurrent
   linear on h_{28} → logits | fc
""",
    "autoencoder": """
.. architecture-diagram:: conv-autoencoder
   :kind: autoencoder
   :input: 1 28 28
   :kwargs: base_channels=16, hidden_dim=256, latent_dim=32

   input image x |
   encoder f
   conv 4×4 stride 2 · BN · ReLU | encoder.layers.2
   conv 4×4 stride 2 · BN · ReLU | encoder.layers.5
   flatten · linear · ReLU | encoder.layers.8
   code
   z = f(x) | encoder
   decoder g
   linear · ReLU | decoder.layers.1
   linear · ReLU · unflatten | decoder.layers.4
   transposed conv 4×4 stride 2 · BN · ReLU | decoder.layers.7
   transposed conv 4×4 stride 2 → logits of g(z) | decoder.layers.8
""",
    "vae": """
.. architecture-diagram:: vae
   :kind: autoencoder
   :input: 1 28 28
   :kwargs: base_channels=24, hidden_dim=512, latent_dim=16

   input image x |
   encoder q(z∣x)
   conv 4×4 stride 2 · BN · ReLU | encoder.layers.2
   conv 4×4 stride 2 · BN · ReLU | encoder.layers.5
   flatten · linear · ReLU | encoder.layers.8
   linear → μ and log σ² | encoder.layers.9
   code, reparameterised
   μ | :output[1]
   log σ² | :output[2]
   z = μ + σ·ε, ε ~ N(0, I) | decoder:input
   decoder p(x∣z)
   linear · ReLU | decoder.layers.1
   linear · ReLU · unflatten | decoder.layers.4
   transposed conv 4×4 stride 2 · BN · ReLU | decoder.layers.7
   transposed conv 4×4 stride 2 → logits | decoder.layers.8
""",
    "gan": """
.. architecture-diagram::
   :kind: adversarial
   :generator: gan-generator
   :generator-kwargs: latent_dim=64, hidden_dims=(256, 512)
   :discriminator: gan-discriminator
   :discriminator-kwargs: hidden_dims=(512, 256)

   generator G
   linear · BN · ReLU | layers.2
   linear · BN · ReLU | layers.5
   linear · tanh | layers.7
   discriminator D
   flatten · linear · LeakyReLU · dropout | layers.3
   linear · LeakyReLU · dropout | layers.6
   linear | layers.7
""",
    "dcgan": """
.. architecture-diagram::
   :kind: adversarial
   :generator: dcgan-generator
   :generator-kwargs: latent_dim=16, base_channels=32
   :discriminator: dcgan-discriminator
   :discriminator-kwargs: base_channels=32, batch_norm=False, spectral_norm=True

   generator G
   transposed conv 7×7 · BN · ReLU | project
   transposed conv 4×4 stride 2 · BN · ReLU | upsample
   transposed conv 4×4 stride 2 · tanh | to_image
   discriminator D
   spectral-norm conv 4×4 stride 2 · LeakyReLU | downsample.0
   spectral-norm conv 4×4 stride 2 · LeakyReLU | downsample.1
   flatten · spectral-norm linear | head
""",
}


def _build(tmp_path: Path, pages: dict[str, str]) -> tuple[Path, str]:
    """Build ``pages`` (name → body) with only the diagrams extension; returns the HTML folder and the warnings."""
    from sphinx.application import Sphinx
    from sphinx.util.docutils import docutils_namespace

    source = tmp_path / "src"
    source.mkdir()
    (source / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / 'docs' / '_ext')!r})\nextensions = ['diagrams']\n"
        "project = 'diagrams'\nexclude_patterns = ['_build']\n")
    (source / "index.rst").write_text("Diagrams\n========\n\n.. toctree::\n\n" + "".join(f"   {p}\n" for p in pages))
    for name, body in pages.items():
        (source / f"{name}.rst").write_text(f"{name}\n{'=' * len(name)}\n{body}")
    warnings = io.StringIO()
    with docutils_namespace():  # each build registers its directives afresh, as a separate sphinx-build would
        app = Sphinx(str(source), str(source), str(tmp_path / "html"), str(tmp_path / "doctrees"), "html",
                     status=None, warning=warnings, freshenv=True)
        app.build()
    return tmp_path / "html", re.sub(r"\x1b\[[0-9;]*m", "", warnings.getvalue())  # without terminal colours


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[ET.Element]]:
    """Each page's diagrams, parsed: building the eight pages once takes a few seconds."""
    html, warnings = _build(tmp_path_factory.mktemp("diagrams"), PAGES)
    assert warnings == "", warnings
    return {name: [ET.fromstring(svg) for svg in re.findall(r"<svg xmlns=.*?</svg>", (html / f"{name}.html").read_text(), re.S)]
            for name in PAGES}


def _text(element: ET.Element) -> str:
    return "".join(element.itertext()).replace("\u200b", "")


def _shapes_shown(svg: ET.Element) -> list[str]:
    """The measured lines, in drawing order: box shapes, code rows' shapes and the recurrent cell's lines."""
    return [_text(t) for t in svg.iter(f"{SVG_NS}text") if t.get("fill-opacity") == "0.8"]


def _dims(t: torch.Tensor) -> str:
    return " × ".join(str(d) for d in t.shape[1:]) or "scalar"


@torch.no_grad()
def _expected() -> dict[str, list[str]]:
    """Each page's shapes, from calling the models' parts in order (no hooks)."""
    from mlcheatsheet.models import build_model

    x = torch.rand(1, 1, 28, 28)
    mlp = build_model("mlp", hidden_dims=(1024, 512), dropout=0.3).eval()
    cnn = build_model("cnn").eval()
    features = cnn.features(x)
    resnet = build_model("resnet", blocks_per_stage=3, base_channels=8).eval()
    stages = [resnet.stem(resnet.normalize(x))]
    for stage in resnet.stages:
        stages.append(stage(stages[-1]))
    lstm = build_model("lstm").eval()
    rows = x[:, 0]  # one channel: row t of the image is step t
    ae = build_model("conv-autoencoder", base_channels=16, hidden_dim=256, latent_dim=32).eval()
    code = ae.encoder(x)
    vae = build_model("vae", base_channels=24, hidden_dim=512, latent_dim=16).eval()
    _, mean, logvar = vae(x)
    return {
        "mlp": [_dims(x), *(_dims(mlp.layers[:n](x)) for n in (1, 5, 9)), _dims(mlp(x))],
        "cnn": [_dims(x), *(_dims(cnn.features[:n](x)) for n in (4, 8, 12)), _dims(cnn.classifier[:2](features)),
                _dims(cnn(x))],
        "resnet": [_dims(x), *map(_dims, stages), _dims(resnet.pool(stages[-1])), _dims(resnet(x)),
                   _dims(stages[1]), _dims(resnet.stages[1][0](stages[1])), _dims(resnet.stages[1][:2](stages[1]))],
        "rnn": [_dims(x), _dims(rows), f"hidden {lstm.recurrent.hidden_size}", f"xt: 28 → ht: {lstm.recurrent.hidden_size}",
                _dims(lstm(x))],
        "autoencoder": [_dims(x), *(_dims(ae.encoder.layers[:n](x)) for n in (3, 6, 9)), _dims(code),
                        *(_dims(ae.decoder.layers[:n](code)) for n in (2, 5, 8, 9))],
        "vae": [_dims(x), *(_dims(vae.encoder.layers[:n](x)) for n in (3, 6, 9, 10)), _dims(mean), _dims(logvar),
                str(vae.decoder.layers[0].in_features),
                *(_dims(vae.decoder.layers[:n](mean)) for n in (2, 5, 8, 9))],
        **_expected_games(),
    }


def _expected_games() -> dict[str, list[str]]:
    from mlcheatsheet.models import build_model

    g = build_model("gan-generator", latent_dim=64, hidden_dims=(256, 512)).eval()
    d = build_model("gan-discriminator", hidden_dims=(512, 256)).eval()
    z, image = torch.rand(1, 64), torch.rand(1, 1, 28, 28)
    dc_g = build_model("dcgan-generator", latent_dim=16, base_channels=32).eval()
    dc_d = build_model("dcgan-discriminator", base_channels=32, batch_norm=False, spectral_norm=True).eval()
    dc_z = torch.rand(1, 16)
    projected = dc_g.project(dc_z[:, :, None, None])
    upsampled = dc_g.upsample(projected)
    return {
        "gan": [_dims(z), *(_dims(g.layers[:n](z)) for n in (3, 6, 8)), _dims(g(z)), _dims(image),
                *(_dims(d.layers[:n](image)) for n in (4, 7, 8)), _dims(d(image))],
        "dcgan": [_dims(dc_z), _dims(projected), _dims(upsampled), _dims(dc_g.to_image(upsampled)), _dims(dc_g(dc_z)),
                  _dims(image), _dims(dc_d.downsample[0](image)), _dims(dc_d.downsample(image)),
                  _dims(dc_d.head(dc_d.downsample(image).flatten(1))), _dims(dc_d(image))],
    }


def test_the_shapes_shown_are_the_models(site: dict[str, list[ET.Element]]) -> None:
    expected = _expected()
    for page, svgs in site.items():
        assert [shape for svg in svgs for shape in _shapes_shown(svg)] == expected[page], page


def test_every_diagram_is_accessible_scalable_svg_with_its_own_markers(site: dict[str, list[ET.Element]]) -> None:
    for page, svgs in site.items():
        assert svgs, page
        ids = [marker.get("id") for svg in svgs for marker in svg.iter(f"{SVG_NS}marker")]
        assert len(ids) == len(set(ids)) == len(svgs), page  # two diagrams on a page never share an arrowhead
        for svg in svgs:
            assert svg.get("role") == "img" and svg.get("width") == "100%" and "max-width" in svg.get("style", "")
            assert svg.get("aria-label", "").startswith("Architecture of") and svg.find(f"{SVG_NS}title") is not None
            defined = {m.get("id") for m in svg.iter(f"{SVG_NS}marker")}
            used = set(re.findall(r"url\(#([^)]+)\)", ET.tostring(svg, encoding="unicode")))
            assert used <= defined, page


def test_colours_follow_the_theme(site: dict[str, list[ET.Element]]) -> None:
    """Text and strokes are currentColor, fills translucent: nothing assumes a white or black page."""
    for svgs in site.values():
        for svg in svgs:
            source = ET.tostring(svg, encoding="unicode").lower()
            assert not re.search(r"#000\b|#fff\b|#000000|#ffffff|\bblack\b|\bwhite\b", source)
            for element in svg.iter():
                assert element.get("stroke") in (None, "currentColor")
                if element.tag in (f"{SVG_NS}rect",) and element.get("fill") != "none":
                    assert 0 < float(element.get("fill-opacity", "1")) <= 0.15


def _rects(svg: ET.Element) -> list[tuple[float, float, float, float]]:
    return [tuple(float(r.get(k, 0)) for k in ("x", "y", "width", "height")) for r in svg.iter(f"{SVG_NS}rect")]


def test_text_is_readable_on_a_phone_and_fits_its_box(site: dict[str, list[ET.Element]]) -> None:
    """≥ 11 px when the viewBox is drawn 358 px wide, and no text wider than its box at 0.6 em per character."""
    for page, svgs in site.items():
        for svg in svgs:
            _, _, width, height = map(float, svg.get("viewBox", "0 0 0 0").split())
            rects = _rects(svg)
            for text in svg.iter(f"{SVG_NS}text"):
                sizes = [float(t.get("font-size")) for t in text.iter() if t.get("font-size")]
                assert min(sizes) * 358 / width >= 11, (page, _text(text))
                _assert_fits(text, rects, (width, height), page)


def _assert_fits(text: ET.Element, rects: list[tuple[float, float, float, float]], page_size: tuple[float, float],
                 page: str) -> None:
    x, y, size = float(text.get("x")), float(text.get("y")), float(text.get("font-size"))
    estimate, (width, height) = 0.6 * size * len(_text(text)), page_size
    if text.get("transform"):  # rotated along an arc or a lane (the directive checks the lane's length): on the page
        assert 0 <= y - estimate / 2 and y + estimate / 2 <= height, (page, _text(text))
        return
    left = {"middle": x - estimate / 2, "start": x, "end": x - estimate}[text.get("text-anchor")]
    assert 0 <= left and left + estimate <= width, (page, _text(text))
    around = [r for r in rects if r[0] <= x <= r[0] + r[2] and r[1] <= y <= r[1] + r[3]]
    if around and text.get("text-anchor") == "middle":
        rx, _, rw, _ = min(around, key=lambda r: r[2] * r[3])
        assert rx <= left and left + estimate <= rx + rw, (page, _text(text))


def test_a_residual_arc_is_read_off_the_model(site: dict[str, list[ET.Element]]) -> None:
    overview, block = (" ".join(_text(t) for t in svg.iter(f"{SVG_NS}text")) for svg in site["resnet"])
    assert overview.count("skip ×3") == 3
    assert "1×1 conv /2" in block and "identity" in block  # the projection shortcut, then the identity


@pytest.mark.parametrize(("body", "message"), [
    (".. architecture-diagram:: cnn\n\n   input |\n   conv | features.99\n",
     "cnn has no submodule 'features.99'; the children of 'features' are 0, 1, 2, 3"),
    (".. architecture-diagram:: cnn\n\n   conv | feature\n", "cnn has no submodule 'feature'; its children are features, classifier"),
    (".. architecture-diagram:: cnnn\n\n   input |\n", "unknown model 'cnnn'; choose one of"),
    (".. architecture-diagram:: cnn\n   :kind: pyramid\n\n   input |\n", "unknown kind 'pyramid'; choose one of stack, residual"),
    (".. architecture-diagram:: vae\n\n   μ | :output[5]\n", ":output of vae has no element [5]: it is a tuple of 3"),
    (".. architecture-diagram:: conv-autoencoder\n   :kind: autoencoder\n\n   input |\n", "three sections in order"),
    (".. architecture-diagram:: cnn\n\n   conv | features..3]\n", "cannot read 'features..3]'"),
])
def test_bad_input_is_a_one_line_error_at_the_directive(tmp_path: Path, body: str, message: str) -> None:
    _, warnings = _build(tmp_path, {"bad": f"\n{body}"})
    errors = [line for line in warnings.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "bad.rst:4: ERROR: architecture-diagram" in errors[0] and message in errors[0], warnings
    assert len(warnings.strip().splitlines()) == 1, warnings


def test_a_reference_names_a_port_and_indices() -> None:
    from diagrams import Ref, parse_content, parse_ref

    assert parse_ref("") == Ref("", "input")
    assert parse_ref(" :output[0] ") == Ref("", "output", (0,))
    assert parse_ref("recurrent[1][0]") == Ref("recurrent", "output", (1, 0))
    assert parse_ref("decoder:input") == Ref("decoder", "input")
    sections = parse_content(["x |", "encoder", "a | encoder.layers.2", "", "code", "z | encoder"])
    assert [(s.title, [line.label for line in s.lines]) for s in sections] == [(None, ["x"]), ("encoder", ["a"]), ("code", ["z"])]
