"""ADE20K (SceneParsing, ADEChallengeData2016) with its on-disk layout checked when the dataset is built."""
import os.path as osp

from mmseg.datasets import ADE20KDataset

from spikeformer_mm.registry import DATASETS


@DATASETS.register_module()
class CheckedADE20KDataset(ADE20KDataset):
    """mmseg's ``ADE20KDataset`` (150 classes, ``reduce_zero_label=True``) that fails early and clearly.

    When built it checks that the image and label-map folders exist, that the image folder holds ``.jpg`` images,
    and that every image has its ``.png`` label map, instead of failing later inside a data worker. The expected
    layout is described in ``data/README.md`` (``## ADE20K``). Items are the same dicts as ``ADE20KDataset``'s.
    """

    def load_data_list(self):
        layout = 'see data/README.md for the ADEChallengeData2016 layout'
        for key, folder in self.data_prefix.items():
            if folder and not osp.isdir(folder):
                raise FileNotFoundError(f'ADE20K {key} folder not found: {folder} (data_root='
                                        f'{self.data_root!r}); {layout}')
        data_list = super().load_data_list()
        if not data_list:
            raise FileNotFoundError(f'no {self.img_suffix} images in {self.data_prefix.get("img_path")}; '
                                    f'{layout}')
        missing = [d['seg_map_path'] for d in data_list
                   if 'seg_map_path' in d and not osp.isfile(d['seg_map_path'])]
        if missing:
            raise FileNotFoundError(f'{len(missing)} of {len(data_list)} ADE20K images have no label map, '
                                    f'e.g. {missing[:3]}; {layout}')
        return data_list
