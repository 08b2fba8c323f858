"""Fine-tuning a pretrained language model on a small labelled task, and measuring calibration.

The task: which word comes next? Each example is a snippet of held-out paragraphs of the Python
reference that ends just before one of a few common words ("the", "a", "is", "of"), and its label
is the word that the text really continues with. The labels are the text's own, not invented;
guessing them takes what a next-character model learns while pretraining: which words fit where.
"""

import re
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from lib.config import TransformerConfig
from lib.corpus import python_reference_paragraphs
from lib.model import DecoderOnlyTransformer
from lib.tokenizers import CharTokenizer
from lib.training import label_smoothed_cross_entropy, train

NEXT_WORDS = ("the", "a", "is", "of")
HELD_OUT_FRACTION = 0.2


def pretraining_split() -> tuple[CharTokenizer, list[str], list[str]]:
    """(character tokenizer, paragraphs to pretrain on, held-out paragraphs for the labelled task).

    The tokenizer knows every character of the reference, so the pretrained model can read the
    held-out paragraphs: the last HELD_OUT_FRACTION of the paragraphs, less any that also occur
    in the first part, so that pretraining never sees them.
    """
    paragraphs = python_reference_paragraphs()
    tokenizer = CharTokenizer.from_text("\n\n".join(paragraphs))
    split = int(len(paragraphs) * (1 - HELD_OUT_FRACTION))
    pretraining = paragraphs[:split]
    seen = set(pretraining)  # some paragraphs appear under several topics: hold out only unseen ones
    return tokenizer, pretraining, [paragraph for paragraph in paragraphs[split:] if paragraph not in seen]


@dataclass
class LabelledSnippets:
    """Snippets (count, length) of character ids and their labels (count,), indices into the class names."""

    tokens: Tensor
    labels: Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: Tensor) -> "LabelledSnippets":
        return LabelledSnippets(self.tokens[indices], self.labels[indices])

    def balanced_subset(self, count: int, seed: int) -> "LabelledSnippets":
        """`count` examples drawn at random, the same number from every class.

        A plain random draw of a few examples gives skewed classes (8 of 4 balanced classes can
        miss one class entirely); a balanced draw keeps the class shares of a balanced test set,
        so that fewer labels means less information, not a different class mix.
        """
        classes = int(self.labels.max()) + 1
        if count % classes:
            raise ValueError(f"a balanced subset needs a multiple of the {classes} classes, got {count}")
        generator = torch.Generator().manual_seed(seed)
        picks = []
        for label in range(classes):
            members = (self.labels == label).nonzero()[:, 0]
            if len(members) < count // classes:
                raise ValueError(f"class {label} has {len(members)} examples, fewer than {count // classes}")
            picks.append(members[torch.randperm(len(members), generator=generator)[: count // classes]])
        order = torch.randperm(count, generator=generator)
        return self.subset(torch.cat(picks)[order])


def make_next_word_task(
    paragraphs: list[str],
    tokenizer: CharTokenizer,
    count: int,
    length: int = 48,
    words: tuple[str, ...] = NEXT_WORDS,
    seed: int = 0,
) -> LabelledSnippets:
    """`count` snippets of `length` characters, each ending just before one of `words`; the label says which.

    Every place in `paragraphs` where one of the words follows at least `length` characters of
    text is a candidate; classes are drawn in turn, so they are equally frequent, and no place
    is used twice. The snippet ends with the space before the word.
    """
    generator = torch.Generator().manual_seed(seed)
    places: list[list[tuple[int, int]]] = [[] for _ in words]
    for paragraph_index, paragraph in enumerate(paragraphs):
        for match in re.finditer(r"(?<= )(\w+)(?=[ ,.;:])", paragraph):
            if match.group(1) in words and match.start() >= length:
                places[words.index(match.group(1))].append((paragraph_index, match.start()))
    per_class = -(-count // len(words))
    if min(len(found) for found in places) < per_class:
        raise ValueError(f"the paragraphs hold fewer than {per_class} places for each of {words}")
    snippets, labels = [], []
    for label, found in enumerate(places):
        for pick in torch.randperm(len(found), generator=generator)[:per_class].tolist():
            paragraph_index, start = found[pick]
            snippets.append(tokenizer.encode(paragraphs[paragraph_index][start - length : start]))
            labels.append(label)
    order = torch.randperm(len(labels), generator=generator)[:count]
    return LabelledSnippets(torch.tensor(snippets)[order], torch.tensor(labels)[order])


class SnippetClassifier(nn.Module):
    """A decoder-only language model whose next-token head is replaced by a class head.

    The class is read at the last position, the only one that has seen the whole snippet
    (as in Radford et al. 2018). With `class_token_ids`, the class head starts as the rows of
    the old next-token head for those tokens: class c begins with the model's score for token
    `class_token_ids[c]` coming next (for "which word comes next", each word's first letter).
    Otherwise it starts from random weights. Given a config instead of a model, it builds the
    network from random weights with one class per word of NEXT_WORDS: how a checkpoint of the
    book's classifier is rebuilt before its weights are loaded (lib.checkpoint).
    """

    config_class = TransformerConfig

    def __init__(
        self,
        language_model: DecoderOnlyTransformer | TransformerConfig,
        num_classes: int = len(NEXT_WORDS),
        class_token_ids=None,
    ):
        super().__init__()
        if isinstance(language_model, TransformerConfig):
            language_model = DecoderOnlyTransformer(language_model)
        self.body = language_model
        self.config = language_model.config
        old_head = language_model.generator
        self.body.generator = nn.Linear(self.config.d_model, num_classes)
        if class_token_ids is not None:
            if len(class_token_ids) != num_classes:
                raise ValueError(f"need one token id per class ({num_classes}), got {len(class_token_ids)}")
            with torch.no_grad():
                self.body.generator.weight.copy_(old_head.weight[list(class_token_ids)])
                self.body.generator.bias.copy_(old_head.bias[list(class_token_ids)])

    def forward(self, tokens: Tensor) -> Tensor:
        """tokens (batch, length) -> class logits (batch, classes)."""
        return self.body(tokens)[:, -1]


def classification_loss(smoothing: float = 0.0):
    """A `compute_loss` for `lib.training.train` on (tokens, labels) batches."""

    def compute_loss(model: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
        tokens, labels = batch
        return label_smoothed_cross_entropy(model(tokens), labels, smoothing, pad_id=-100)

    return compute_loss


def random_labelled_batches(data: LabelledSnippets, batch_size: int, generator: torch.Generator):
    """Endless batches of (tokens, labels), drawn with replacement from `data`."""
    while True:
        picks = torch.randint(len(data), (min(batch_size, len(data)),), generator=generator)
        yield data.tokens[picks], data.labels[picks]


def fine_tune(
    model: SnippetClassifier,
    data: LabelledSnippets,
    steps: int,
    seed: int,
    learning_rate: float = 1e-3,
    batch_size: int = 16,
    smoothing: float = 0.0,
) -> SnippetClassifier:
    """Train every weight of `model` on `data` with Adam for `steps` steps; return it in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    batches = random_labelled_batches(data, batch_size, generator)
    train(model, batches, classification_loss(smoothing), optimizer, steps, description="fine-tuning")
    return model


@torch.no_grad()
def predicted_probabilities(model: nn.Module, data: LabelledSnippets, batch_size: int = 500) -> Tensor:
    """Class probabilities (count, classes) of `model` on `data`."""
    model.eval()
    chunks = [model(data.tokens[i : i + batch_size]).softmax(-1) for i in range(0, len(data), batch_size)]
    return torch.cat(chunks)


def expected_calibration_error(probabilities: Tensor, labels: Tensor, num_bins: int = 10) -> float:
    """How far confidence is from accuracy: bin predictions by confidence, average |accuracy - confidence|.

    probabilities (count, classes), labels (count,). Each bin is weighted by its share of the
    predictions (Guo et al. 2017's ECE with equal-width bins).
    """
    if probabilities.dim() != 2 or probabilities.size(0) != labels.size(0):
        raise ValueError(
            f"need probabilities (count, classes) and labels (count,), got {tuple(probabilities.shape)} "
            f"and {tuple(labels.shape)}"
        )
    confidence, predicted = probabilities.max(dim=-1)
    correct = (predicted == labels).float()
    bins = (confidence * num_bins).long().clamp(max=num_bins - 1)
    error = 0.0
    for index in range(num_bins):
        in_bin = bins == index
        if in_bin.any():
            error += in_bin.float().mean().item() * abs(
                correct[in_bin].mean().item() - confidence[in_bin].mean().item()
            )
    return error
