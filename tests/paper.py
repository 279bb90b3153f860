"""What the paper (Kollias & Zafeiriou, BMVC 2019) defines, written down once for the tests
to check the code against, independently of the registry they test."""

#: every network of the paper (ST/MT on three backbones, the recurrent and A/V nets, the
#: audio stream the A/V recipe trains first, and the two ArcFace nets); each also has _lite
PAPER_MODELS = (
    "st_vgg",
    "st_sphereface",
    "st_inception_resnet",
    "mt_vgg",
    "mt_sphereface",
    "mt_inception_resnet",
    "mt_vgg_rnn",
    "mt_vgg_rnn_audio",
    "av_mt_vgg_rnn",
    "mt_arcres",
    "mt_arcvgg",
)
