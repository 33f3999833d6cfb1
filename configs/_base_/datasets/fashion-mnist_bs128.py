# Fashion-MNIST (60,000 training and 10,000 test images, 28 x 28 grey, 10 classes) through mmpretrain's
# FashionMNIST dataset, read from local files only (download=False). Lay the files out with one command:
#   apt-get install dataset-fashion-mnist && python tools/dataset_converters/prepare_fashion_mnist.py
# The folder comes from the environment variable FASHION_MNIST_ROOT (default data/fashion-mnist).
# Images are zero-padded to 32 x 32 at the bottom and right (the backbones need multiples of 16); training adds the
# usual small-image augmentation: the padded image shifted by up to 2 pixels (zero fill), and horizontal flips.
dataset_type = 'FashionMNIST'
data_root = '{{$FASHION_MNIST_ROOT:data/fashion-mnist}}'

# the training images' pixel mean and standard deviation
data_preprocessor = dict(num_classes=10, mean=[72.94], std=[90.02])

train_pipeline = [
    dict(type='Pad', size=(32, 32), pad_val=0),
    dict(type='RandomCrop', crop_size=32, padding=2, padding_mode='constant'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='Pad', size=(32, 32), pad_val=0),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=128,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(type=dataset_type, data_root=data_root, split='train', download=False, pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=500,
    num_workers=2,
    persistent_workers=True,
    # mmpretrain 1.2's MNIST datasets read the test files only with test_mode=True (split='test' alone loads
    # the 60,000 training images)
    dataset=dict(type=dataset_type, data_root=data_root, split='test', test_mode=True, download=False,
                 pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='Accuracy', topk=(1,))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
