"""The README's main command, verbatim: trains the demo and meets the bar.

It takes minutes (the whole demo on the CPU), so it carries the ``e2e``
marker; CI runs it (``python -m pytest`` selects every test).
"""
import re

import pytest
from tool_runner import ROOT, describe, run_tool

BBOX_BAR, SEGM_BAR = 0.75, 0.65


def readme_block(marker: str) -> str:
    text = (ROOT / 'README.md').read_text()
    match = re.search(rf'<!-- ci:{marker} -->\n```bash\n(.*?)```', text, re.S)
    assert match, f'README.md has no ci:{marker} block'
    return match.group(1)


@pytest.mark.e2e
def test_readme_main_command_trains_demo_to_the_bar(tmp_path):
    for name in ('configs', 'tools'):
        (tmp_path / name).symlink_to(ROOT / name)
    result = run_tool(['bash', '-euo', 'pipefail', '-c',
                       readme_block('main')],
                      tmp_path,
                      timeout=1800)
    assert result.returncode == 0, describe(result)
    final = re.search(
        r'final evaluation: coco/bbox_mAP ([\d.]+), '
        r'coco/segm_mAP ([\d.]+)', result.stdout)
    assert final, describe(result)
    bbox, segm = map(float, final.groups())
    assert bbox >= BBOX_BAR and segm >= SEGM_BAR, (bbox, segm)
    work = tmp_path / 'work_dirs' / 'mask_rcnn_fasternet_t0_shapes'
    assert (work / 'last_checkpoint').is_file()
    assert (tmp_path / 'data' / 'shapes' / 'train' /
            'annotations.json').is_file()
