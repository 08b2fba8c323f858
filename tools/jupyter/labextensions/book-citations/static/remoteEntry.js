// The book's citations in JupyterLab and Notebook 7: a prebuilt extension, written by hand (no build).
//
// jupyterlab-myst 2.7.0 parses {cite}`key` into a `cite` node but has no bibliography: its table
// of works is always empty, so every citation renders as "Citation Not Found". This extension
// gives each cite node whose key is in the book's references.bib the text the static site shows
// ("[Vaswani et al., 2017]" for {cite}, "Vaswani et al. [2017]" for {cite:t}) and the full
// reference as a tooltip; jupyterlab-myst then draws it as a resolved <cite>. Keys it does not
// know still render as "Citation Not Found".
//
// How: JupyterLab loads extensions as webpack module-federation containers. Before it loads any
// extension's code it calls every container's `init(shareScope)` and waits for all of them; the
// share scope is where jupyterlab-myst offers its copy of `myst-parser`. `init` below wraps that
// entry (now, or when jupyterlab-myst registers it) so that whoever asks for myst-parser
// (jupyterlab-myst itself) gets a `mystParse` that adds the citation text to the tree it returns.
// The plugin itself does nothing else.
//
// REFERENCES is generated from references.bib by `python tools/citations_extension.py`;
// tests/site/test_jupyter.py checks that it is up to date and that a chapter's citations resolve.
var _JUPYTERLAB;
(function () {
  "use strict";

  // BEGIN REFERENCES (generated: python tools/citations_extension.py)
  var REFERENCES = {
    "vaswani2017attention": {"short": "Vaswani et al.", "year": "2017", "full": "Ashish Vaswani, Noam Shazeer, Niki Parmar, Jakob Uszkoreit, Llion Jones, Aidan N. Gomez, Łukasz Kaiser, Illia Polosukhin (2017). Attention Is All You Need."},
    "bahdanau2015neural": {"short": "Bahdanau et al.", "year": "2015", "full": "Dzmitry Bahdanau, Kyunghyun Cho, Yoshua Bengio (2015). Neural Machine Translation by Jointly Learning to Align and Translate."},
    "parikh2016decomposable": {"short": "Parikh et al.", "year": "2016", "full": "Ankur P. Parikh, Oscar Täckström, Dipanjan Das, Jakob Uszkoreit (2016). A Decomposable Attention Model for Natural Language Inference."},
    "xiong2020layer": {"short": "Xiong et al.", "year": "2020", "full": "Ruibin Xiong, Yunchang Yang, Di He, Kai Zheng, Shuxin Zheng, Chen Xing, Huishuai Zhang, Yanyan Lan, Liwei Wang, Tie-Yan Liu (2020). On Layer Normalization in the Transformer Architecture."},
    "su2021roformer": {"short": "Su et al.", "year": "2021", "full": "Jianlin Su, Yu Lu, Shengfeng Pan, Ahmed Murtadha, Bo Wen, Yunfeng Liu (2021). RoFormer: Enhanced Transformer with Rotary Position Embedding."},
    "ba2016layer": {"short": "Ba et al.", "year": "2016", "full": "Jimmy Lei Ba, Jamie Ryan Kiros, Geoffrey E. Hinton (2016). Layer Normalization."},
    "he2016deep": {"short": "He et al.", "year": "2016", "full": "Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun (2016). Deep Residual Learning for Image Recognition."},
    "luong2015effective": {"short": "Luong et al.", "year": "2015", "full": "Thang Luong, Hieu Pham, Christopher D. Manning (2015). Effective Approaches to Attention-based Neural Machine Translation."},
    "szegedy2016rethinking": {"short": "Szegedy et al.", "year": "2016", "full": "Christian Szegedy, Vincent Vanhoucke, Sergey Ioffe, Jon Shlens, Zbigniew Wojna (2016). Rethinking the Inception Architecture for Computer Vision."},
    "press2017using": {"short": "Press and Wolf", "year": "2017", "full": "Ofir Press, Lior Wolf (2017). Using the Output Embedding to Improve Language Models."},
    "mikolov2013efficient": {"short": "Mikolov et al.", "year": "2013", "full": "Tomas Mikolov, Kai Chen, Greg Corrado, Jeffrey Dean (2013). Efficient Estimation of Word Representations in Vector Space."},
    "sennrich2016neural": {"short": "Sennrich et al.", "year": "2016", "full": "Rico Sennrich, Barry Haddow, Alexandra Birch (2016). Neural Machine Translation of Rare Words with Subword Units."},
    "dao2022flashattention": {"short": "Dao et al.", "year": "2022", "full": "Tri Dao, Daniel Y. Fu, Stefano Ermon, Atri Rudra, Christopher Ré (2022). FlashAttention: Fast and Memory-Efficient Exact Attention with IO-Awareness."},
    "clark2019what": {"short": "Clark et al.", "year": "2019", "full": "Kevin Clark, Urvashi Khandelwal, Omer Levy, Christopher D. Manning (2019). What Does BERT Look at? An Analysis of BERT's Attention."},
    "jain2019attention": {"short": "Jain and Wallace", "year": "2019", "full": "Sarthak Jain, Byron C. Wallace (2019). Attention is not Explanation."},
    "shaw2018self": {"short": "Shaw et al.", "year": "2018", "full": "Peter Shaw, Jakob Uszkoreit, Ashish Vaswani (2018). Self-Attention with Relative Position Representations."},
    "press2022train": {"short": "Press et al.", "year": "2022", "full": "Ofir Press, Noah A. Smith, Mike Lewis (2022). Train Short, Test Long: Attention with Linear Biases Enables Input Length Extrapolation."},
    "sutskever2014sequence": {"short": "Sutskever et al.", "year": "2014", "full": "Ilya Sutskever, Oriol Vinyals, Quoc V. Le (2014). Sequence to Sequence Learning with Neural Networks."},
    "cho2014learning": {"short": "Cho et al.", "year": "2014", "full": "Kyunghyun Cho, Bart van Merriënboer, Caglar Gulcehre, Dzmitry Bahdanau, Fethi Bougares, Holger Schwenk, Yoshua Bengio (2014). Learning Phrase Representations using RNN Encoder–Decoder for Statistical Machine Translation."},
    "elman1990finding": {"short": "Elman", "year": "1990", "full": "Jeffrey L. Elman (1990). Finding Structure in Time."},
    "hochreiter1997long": {"short": "Hochreiter and Schmidhuber", "year": "1997", "full": "Sepp Hochreiter, Jürgen Schmidhuber (1997). Long Short-Term Memory."},
    "bengio1994learning": {"short": "Bengio et al.", "year": "1994", "full": "Yoshua Bengio, Patrice Simard, Paolo Frasconi (1994). Learning Long-Term Dependencies with Gradient Descent is Difficult."},
    "devlin2019bert": {"short": "Devlin et al.", "year": "2019", "full": "Jacob Devlin, Ming-Wei Chang, Kenton Lee, Kristina Toutanova (2019). BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding."},
    "radford2019language": {"short": "Radford et al.", "year": "2019", "full": "Alec Radford, Jeffrey Wu, Rewon Child, David Luan, Dario Amodei, Ilya Sutskever (2019). Language Models are Unsupervised Multitask Learners."},
    "cho2014properties": {"short": "Cho et al.", "year": "2014", "full": "Kyunghyun Cho, Bart van Merriënboer, Dzmitry Bahdanau, Yoshua Bengio (2014). On the Properties of Neural Machine Translation: Encoder–Decoder Approaches."},
    "zipf1949human": {"short": "Zipf", "year": "1949", "full": "George Kingsley Zipf (1949). Human Behavior and the Principle of Least Effort."},
    "haviv2022transformer": {"short": "Haviv et al.", "year": "2022", "full": "Adi Haviv, Ori Ram, Ofir Press, Peter Izsak, Omer Levy (2022). Transformer Language Models without Positional Encodings Still Learn Positional Information."},
    "wang2019learning": {"short": "Wang et al.", "year": "2019", "full": "Qiang Wang, Bei Li, Tong Xiao, Jingbo Zhu, Changliang Li, Derek F. Wong, Lidia S. Chao (2019). Learning Deep Transformer Models for Machine Translation."},
    "bengio2003neural": {"short": "Bengio et al.", "year": "2003", "full": "Yoshua Bengio, Réjean Ducharme, Pascal Vincent, Christian Jauvin (2003). A Neural Probabilistic Language Model."},
    "kingma2015adam": {"short": "Kingma and Ba", "year": "2015", "full": "Diederik P. Kingma, Jimmy Ba (2015). Adam: A Method for Stochastic Optimization."},
    "liu2020variance": {"short": "Liu et al.", "year": "2020", "full": "Liyuan Liu, Haoming Jiang, Pengcheng He, Weizhu Chen, Xiaodong Liu, Jianfeng Gao, Jiawei Han (2020). On the Variance of the Adaptive Learning Rate and Beyond."},
    "liu2020understanding": {"short": "Liu et al.", "year": "2020", "full": "Liyuan Liu, Xiaodong Liu, Jianfeng Gao, Weizhu Chen, Jiawei Han (2020). Understanding the Difficulty of Training Transformers."},
    "glorot2010understanding": {"short": "Glorot and Bengio", "year": "2010", "full": "Xavier Glorot, Yoshua Bengio (2010). Understanding the Difficulty of Training Deep Feedforward Neural Networks."},
    "baevski2019adaptive": {"short": "Baevski and Auli", "year": "2019", "full": "Alexei Baevski, Michael Auli (2019). Adaptive Input Representations for Neural Language Modeling."},
    "rush2018annotated": {"short": "Rush", "year": "2018", "full": "Alexander Rush (2018). The Annotated Transformer."},
    "radford2018improving": {"short": "Radford et al.", "year": "2018", "full": "Alec Radford, Karthik Narasimhan, Tim Salimans, Ilya Sutskever (2018). Improving Language Understanding by Generative Pre-Training."},
    "howard2018universal": {"short": "Howard and Ruder", "year": "2018", "full": "Jeremy Howard, Sebastian Ruder (2018). Universal Language Model Fine-tuning for Text Classification."},
    "muller2019when": {"short": "Müller et al.", "year": "2019", "full": "Rafael Müller, Simon Kornblith, Geoffrey E. Hinton (2019). When Does Label Smoothing Help?"},
    "loshchilov2017sgdr": {"short": "Loshchilov and Hutter", "year": "2017", "full": "Ilya Loshchilov, Frank Hutter (2017). SGDR: Stochastic Gradient Descent with Warm Restarts."},
    "wu2016google": {"short": "Wu et al.", "year": "2016", "full": "Yonghui Wu, Mike Schuster, Zhifeng Chen, Quoc V. Le, Mohammad Norouzi, et al. (2016). Google's Neural Machine Translation System: Bridging the Gap between Human and Machine Translation."},
    "guo2017calibration": {"short": "Guo et al.", "year": "2017", "full": "Chuan Guo, Geoff Pleiss, Yu Sun, Kilian Q. Weinberger (2017). On Calibration of Modern Neural Networks."},
    "li2020pytorch": {"short": "Li et al.", "year": "2020", "full": "Shen Li, Yanli Zhao, Rohan Varma, Omkar Salpekar, Pieter Noordhuis, Teng Li, Adam Paszke, Jeff Smith, Brian Vaughan, Pritam Damania, Soumith Chintala (2020). PyTorch Distributed: Experiences on Accelerating Data Parallel Training."},
    "zhao2023pytorch": {"short": "Zhao et al.", "year": "2023", "full": "Yanli Zhao, Andrew Gu, Rohan Varma, Liang Luo, Chien-Chin Huang, Min Xu, Less Wright, Hamid Shojanazeri, Myle Ott, Sam Shleifer, Alban Desmaison, Can Balioglu, Pritam Damania, Bernard Nguyen, Geeta Chauhan, Yuchen Hao, Ajit Mathews, Shen Li (2023). PyTorch FSDP: Experiences on Scaling Fully Sharded Data Parallel."},
    "gers2000learning": {"short": "Gers et al.", "year": "2000", "full": "Felix A. Gers, Jürgen Schmidhuber, Fred Cummins (2000). Learning to Forget: Continual Prediction with LSTM."},
    "zhang2019root": {"short": "Zhang and Sennrich", "year": "2019", "full": "Biao Zhang, Rico Sennrich (2019). Root Mean Square Layer Normalization."},
    "shazeer2020glu": {"short": "Shazeer", "year": "2020", "full": "Noam Shazeer (2020). GLU Variants Improve Transformer."},
    "shazeer2019fast": {"short": "Shazeer", "year": "2019", "full": "Noam Shazeer (2019). Fast Transformer Decoding: One Write-Head is All You Need."},
    "ainslie2023gqa": {"short": "Ainslie et al.", "year": "2023", "full": "Joshua Ainslie, James Lee-Thorp, Michiel de Jong, Yury Zemlyanskiy, Federico Lebrón, Sumit Sanghai (2023). GQA: Training Generalized Multi-Query Transformer Models from Multi-Head Checkpoints."},
    "milakov2018online": {"short": "Milakov and Gimelshein", "year": "2018", "full": "Maxim Milakov, Natalia Gimelshein (2018). Online Normalizer Calculation for Softmax."},
    "rabe2021self": {"short": "Rabe and Staats", "year": "2021", "full": "Markus N. Rabe, Charles Staats (2021). Self-attention Does Not Need $O(n^2)$ Memory."},
    "grattafiori2024llama": {"short": "Grattafiori et al.", "year": "2024", "full": "Aaron Grattafiori, Abhimanyu Dubey, Abhinav Jauhri, Abhinav Pandey, et al. (2024). The Llama 3 Herd of Models."},
    "holtzman2020curious": {"short": "Holtzman et al.", "year": "2020", "full": "Ari Holtzman, Jan Buys, Li Du, Maxwell Forbes, Yejin Choi (2020). The Curious Case of Neural Text Degeneration."},
    "loshchilov2019decoupled": {"short": "Loshchilov and Hutter", "year": "2019", "full": "Ilya Loshchilov, Frank Hutter (2019). Decoupled Weight Decay Regularization."},
    "kaplan2020scaling": {"short": "Kaplan et al.", "year": "2020", "full": "Jared Kaplan, Sam McCandlish, Tom Henighan, Tom B. Brown, Benjamin Chess, Rewon Child, Scott Gray, Alec Radford, Jeffrey Wu, Dario Amodei (2020). Scaling Laws for Neural Language Models."},
    "pope2023efficiently": {"short": "Pope et al.", "year": "2023", "full": "Reiner Pope, Sholto Douglas, Aakanksha Chowdhery, Jacob Devlin, James Bradbury, Jonathan Heek, Kefan Xiao, Shivani Agrawal, Jeff Dean (2023). Efficiently Scaling Transformer Inference."},
    "rumelhart1986learning": {"short": "Rumelhart et al.", "year": "1986", "full": "David E. Rumelhart, Geoffrey E. Hinton, Ronald J. Williams (1986). Learning Representations by Back-Propagating Errors."},
    "srivastava2014dropout": {"short": "Srivastava et al.", "year": "2014", "full": "Nitish Srivastava, Geoffrey Hinton, Alex Krizhevsky, Ilya Sutskever, Ruslan Salakhutdinov (2014). Dropout: A Simple Way to Prevent Neural Networks from Overfitting."},
    "hoffmann2022training": {"short": "Hoffmann et al.", "year": "2022", "full": "Jordan Hoffmann, Sebastian Borgeaud, Arthur Mensch, Elena Buchatskaya, Trevor Cai, Eliza Rutherford, Diego de Las Casas, Lisa Anne Hendricks, Johannes Welbl, Aidan Clark, Tom Hennigan, Eric Noland, Katie Millican, George van den Driessche, Bogdan Damoc, Aurelia Guy, Simon Osindero, Karen Simonyan, Erich Elsen, Oriol Vinyals, Jack W. Rae, Laurent Sifre (2022). Training Compute-Optimal Large Language Models."},
    "muennighoff2023scaling": {"short": "Muennighoff et al.", "year": "2023", "full": "Niklas Muennighoff, Alexander M. Rush, Boaz Barak, Teven Le Scao, Aleksandra Piktus, Nouamane Tazi, Sampo Pyysalo, Thomas Wolf, Colin Raffel (2023). Scaling Data-Constrained Language Models."},
    "ouyang2022training": {"short": "Ouyang et al.", "year": "2022", "full": "Long Ouyang, Jeffrey Wu, Xu Jiang, Diogo Almeida, Carroll Wainwright, Pamela Mishkin, Chong Zhang, Sandhini Agarwal, Katarina Slama, Alex Ray, et al. (2022). Training Language Models to Follow Instructions with Human Feedback."},
    "wei2022finetuned": {"short": "Wei et al.", "year": "2022", "full": "Jason Wei, Maarten Bosma, Vincent Y. Zhao, Kelvin Guu, Adams Wei Yu, Brian Lester, Nan Du, Andrew M. Dai, Quoc V. Le (2022). Finetuned Language Models Are Zero-Shot Learners."},
    "hu2022lora": {"short": "Hu et al.", "year": "2022", "full": "Edward J. Hu, Yelong Shen, Phillip Wallis, Zeyuan Allen-Zhu, Yuanzhi Li, Shean Wang, Lu Wang, Weizhu Chen (2022). LoRA: Low-Rank Adaptation of Large Language Models."},
    "rafailov2023direct": {"short": "Rafailov et al.", "year": "2023", "full": "Rafael Rafailov, Archit Sharma, Eric Mitchell, Stefano Ermon, Christopher D. Manning, Chelsea Finn (2023). Direct Preference Optimization: Your Language Model is Secretly a Reward Model."},
    "christiano2017deep": {"short": "Christiano et al.", "year": "2017", "full": "Paul F. Christiano, Jan Leike, Tom Brown, Miljan Martic, Shane Legg, Dario Amodei (2017). Deep Reinforcement Learning from Human Preferences."},
    "schulman2017proximal": {"short": "Schulman et al.", "year": "2017", "full": "John Schulman, Filip Wolski, Prafulla Dhariwal, Alec Radford, Oleg Klimov (2017). Proximal Policy Optimization Algorithms."},
    "bradley1952rank": {"short": "Bradley and Terry", "year": "1952", "full": "Ralph Allan Bradley, Milton E. Terry (1952). Rank Analysis of Incomplete Block Designs: I. The Method of Paired Comparisons."},
    "brown2020language": {"short": "Brown et al.", "year": "2020", "full": "Tom Brown, Benjamin Mann, Nick Ryder, Melanie Subbiah, Jared D. Kaplan, Prafulla Dhariwal, Arvind Neelakantan, Pranav Shyam, Girish Sastry, Amanda Askell, et al. (2020). Language Models are Few-Shot Learners."},
    "pang2024iterative": {"short": "Pang et al.", "year": "2024", "full": "Richard Yuanzhe Pang, Weizhe Yuan, He He, Kyunghyun Cho, Sainbayar Sukhbaatar, Jason Weston (2024). Iterative Reasoning Preference Optimization."},
    "pal2024smaug": {"short": "Pal et al.", "year": "2024", "full": "Arka Pal, Deep Karkhanis, Samuel Dooley, Manley Roberts, Siddartha Naidu, Colin White (2024). Smaug: Fixing Failure Modes of Preference Optimisation with DPO-Positive."}
  };
  // END REFERENCES

  // The text of one citation, as the site's author-year style writes it.
  function citationText(reference, groupKind) {
    if (groupKind === "narrative") return reference.short + " [" + reference.year + "]";
    if (groupKind === "parenthetical") return reference.short + ", " + reference.year;
    return "[" + reference.short + ", " + reference.year + "]";
  }

  // Give every known, still empty cite node its text; a citeGroup sets the kind of its cites.
  function resolveCitations(node, groupKind) {
    if (!node || typeof node !== "object") return;
    var reference = node.type === "cite" ? REFERENCES[node.label] : undefined;
    if (reference && !(node.children && node.children.length)) {
      node.children = [
        { type: "abbreviation", title: reference.full, children: [{ type: "text", value: citationText(reference, groupKind) }] }
      ];
    }
    var kind = node.type === "citeGroup" ? node.kind : undefined;
    (node.children || []).forEach(function (child) { resolveCitations(child, kind); });
  }

  // myst-parser's module, with a mystParse that resolves citations in what it returns.
  function withCitations(module) {
    var wrapped = Object.create(module);
    Object.defineProperty(wrapped, "mystParse", {
      enumerable: true,
      value: function () {
        var tree = module.mystParse.apply(this, arguments);
        try {
          resolveCitations(tree, undefined);
        } catch (error) {
          console.warn("book-citations: could not resolve citations", error);
        }
        return tree;
      }
    });
    return wrapped;
  }

  function wrapSharedModule(entry) {
    if (entry.bookCitations) return;
    var get = entry.get;
    entry.get = function () {
      return Promise.resolve(get.apply(this, arguments)).then(function (factory) {
        return function () { return withCitations(factory()); };
      });
    };
    entry.bookCitations = true;
  }

  // Wrap every version of myst-parser in the share scope, whether jupyterlab-myst registered it
  // before this container's init or registers it after. Containers initialize in whatever order
  // their scripts arrive, and init must not wait for another: JupyterLab stalls if it does.
  function watchMystParser(shareScope) {
    var versions = shareScope["myst-parser"] || {};
    Object.keys(versions).forEach(function (version) { wrapSharedModule(versions[version]); });
    // webpack registers a shared module as `scope[name] = scope[name] || {}; scope[name][version] = entry`
    var watched = new Proxy(versions, {
      set: function (target, version, entry) {
        target[version] = entry;
        if (entry && typeof entry.get === "function") wrapSharedModule(entry);
        return true;
      }
    });
    Object.defineProperty(shareScope, "myst-parser", {
      configurable: true,
      enumerable: true,
      get: function () { return watched; },
      set: function (value) {
        if (value === watched) return;
        Object.keys(value || {}).forEach(function (version) { watched[version] = value[version]; });
      }
    });
  }

  var plugin = { id: "book-citations:plugin", autoStart: true, activate: function () {} };

  _JUPYTERLAB = _JUPYTERLAB || {};
  _JUPYTERLAB["book-citations"] = {
    init: function (shareScope) {
      if (!Object.getOwnPropertyDescriptor(shareScope, "myst-parser")?.get) watchMystParser(shareScope);
      return Promise.resolve();
    },
    get: function (module) {
      if (module === "./extension") {
        return Promise.resolve(function () { return { __esModule: true, default: plugin }; });
      }
      return Promise.reject(new Error("book-citations has no module " + module));
    }
  };
})();
