"""Latency of FasterNet against mmdet's ResNet-50, side by side in one run.

Examples:
    python tools/benchmark.py                 # S: backbone and detectors
    python tools/benchmark.py --parts backbone --settings eval deploy \\
        deploy-bf16 --runs 11 --json bench.json --plot bench.png
    python tools/benchmark.py --train                  # + training step cost
    python tools/benchmark.py --parts mask_rcnn retinanet \\
        --settings eval deploy onnxruntime --breakdown  # + where time goes

Both models of a row get identical treatment (see --settings); runs
alternate and the median is reported with the ratio, and for backbones the
achieved GFLOPS against a 1x1 conv timed in the same loop.
"""
from mmdet_fasternet.apis.benchmark import benchmark, benchmark_parser
from mmdet_fasternet.apis.cli import run_cli

if __name__ == '__main__':
    raise SystemExit(run_cli(benchmark, benchmark_parser()))
